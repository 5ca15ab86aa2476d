import type { CheckVerdict, Rollout, RolloutCheck, RolloutVerdict } from '../types'

// The rollout panel's data: parseRollout reads the snapshot's optional
// `rollout` field (published by `vacunometro rollout`, Go: internal/rollout
// State) defensively, and rolloutView works out what the step indicator
// shows. Both are pure, for the unit tests.
//
// On the wire `step` and each check's `step` are the route's percentage
// (5, 25, ...), and `step` is the route's share before the first step and
// after a rollback (often 0). An older draft of the format sent an index
// instead; when `step` is not one of `steps`, the route's current weight
// decides which step is current.

type Obj = Record<string, unknown>

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (v: unknown): string => (typeof v === 'string' ? v : '')
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])
const nnum = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null)

const ROLLOUT_VERDICTS: readonly RolloutVerdict[] = ['running', 'promoted', 'rolled_back', 'interrupted']
const CHECK_VERDICTS: readonly CheckVerdict[] = ['pass', 'fail', 'inconclusive']

/** ROUTE_ORDER is the order of the route split panel; other routes follow by name. */
export const ROUTE_ORDER = ['grpc', 'redis', 'pubsub'] as const

function rank(name: string): number {
  const i = (ROUTE_ORDER as readonly string[]).indexOf(name)
  return i < 0 ? ROUTE_ORDER.length : i
}

/** weights reads {"grpc":40,...} into ordered [route, weight] pairs, skipping non-numbers. */
export function parseWeights(v: unknown): [string, number][] {
  if (!isObj(v)) return []
  const out: [string, number][] = []
  for (const [k, w] of Object.entries(v)) {
    const n = nnum(w)
    if (k !== '' && n !== null) out.push([k, n])
  }
  return out.sort((a, b) => rank(a[0]) - rank(b[0]) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}

function check(o: Obj): RolloutCheck {
  const raw = str(o.verdict)
  const verdict = (CHECK_VERDICTS as readonly string[]).includes(raw) ? (raw as CheckVerdict) : 'unknown'
  return {
    step: nnum(o.step) ?? 0,
    success_pct: nnum(o.success_pct),
    p99_ms: nnum(o.p99_ms),
    lag_p99_ms: nnum(o.lag_p99_ms),
    records: nnum(o.records),
    verdict,
    verdict_raw: raw,
    reason: str(o.reason),
  }
}

/**
 * parseRollout returns the rollout state with every missing field
 * defaulted, or null when there is none to show: absent, not an object, or
 * an object with no route, steps, checks or verdict at all. Unknown fields
 * are ignored; an unknown verdict becomes "unknown" (its text is kept).
 */
export function parseRollout(v: unknown): Rollout | null {
  if (!isObj(v)) return null
  const route = str(v.route)
  const steps = arr(v.steps)
    .map(nnum)
    .filter((n): n is number => n !== null)
  const checks = arr(v.checks).filter(isObj).map(check)
  const raw = str(v.verdict)
  if (route === '' && steps.length === 0 && checks.length === 0 && raw === '') return null
  const verdict = (ROLLOUT_VERDICTS as readonly string[]).includes(raw) ? (raw as RolloutVerdict) : 'unknown'
  const updated = str(v.updated_at)
  return {
    route,
    steps,
    step: nnum(v.step),
    weights: parseWeights(v.weights),
    from: parseWeights(v.from),
    checks,
    verdict,
    verdict_raw: raw,
    reason: str(v.reason),
    backend: str(v.backend),
    failed_checks: nnum(v.failed_checks),
    max_failures: nnum(v.max_failures),
    updated_at: updated === '' || updated.startsWith('0001-01-01') ? null : updated,
  }
}

export type StepState = 'done' | 'current' | 'failed' | 'stopped' | 'pending'

export interface StepView {
  percent: number
  state: StepState
  pass: number // checks that passed at this step
  fail: number
  inconclusive: number
}

export interface RolloutView {
  steps: StepView[]
  highlighted: number // index of the step to highlight (aria-current), -1 for none
  share: number | null // the route's percentage now
}

/** routeShare is the route's weight as a percentage of all weights (null when there are none). */
export function routeShare(r: Rollout): number | null {
  const total = r.weights.reduce((s, [, w]) => s + Math.max(0, w), 0)
  const mine = r.weights.find(([k]) => k === r.route)
  if (!(total > 0)) return null
  return ((mine ? Math.max(0, mine[1]) : 0) / total) * 100
}

/**
 * rolloutView places the rollout on its steps. Running: steps before the
 * current one are done, the current one is highlighted. Promoted: all done.
 * Rolled back: the step of the last check failed (the weights went back to
 * where they were). Interrupted: the step it stopped at. Each step also
 * counts its checks by verdict.
 */
export function rolloutView(r: Rollout): RolloutView {
  const share = routeShare(r)
  let current = r.step !== null ? r.steps.indexOf(r.step) : -1
  if (current < 0 && share !== null) {
    const s = Math.round(share * 100) / 100
    current = r.steps.indexOf(s)
  }
  const lastCheck = r.checks.length > 0 ? r.checks[r.checks.length - 1] : null
  let highlighted = -1
  let stateAt: (i: number) => StepState
  switch (r.verdict) {
    case 'promoted':
      highlighted = r.steps.length - 1
      stateAt = () => 'done'
      break
    case 'rolled_back': {
      highlighted = lastCheck ? r.steps.lastIndexOf(lastCheck.step) : -1
      const f = highlighted
      stateAt = (i) => (f < 0 ? 'pending' : i < f ? 'done' : i === f ? 'failed' : 'pending')
      break
    }
    default: {
      // running, interrupted, or a verdict this page does not know
      let c = current
      if (c < 0 && r.verdict === 'interrupted' && lastCheck) c = r.steps.lastIndexOf(lastCheck.step)
      highlighted = c
      const here: StepState = r.verdict === 'interrupted' ? 'stopped' : 'current'
      const reached = r.step ?? -1
      stateAt = (i) => (c >= 0 ? (i < c ? 'done' : i === c ? here : 'pending') : r.steps[i] <= reached ? 'done' : 'pending')
    }
  }
  const steps = r.steps.map((percent, i) => {
    const mine = r.checks.filter((c) => c.step === percent)
    return {
      percent,
      state: stateAt(i),
      pass: mine.filter((c) => c.verdict === 'pass').length,
      fail: mine.filter((c) => c.verdict === 'fail').length,
      inconclusive: mine.filter((c) => c.verdict === 'inconclusive').length,
    }
  })
  return { steps, highlighted, share }
}
