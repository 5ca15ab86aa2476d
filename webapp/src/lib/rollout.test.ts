import { describe, expect, it } from 'vitest'
import { snapshot } from '../test-fixtures'
import { parseSnapshot } from './parse'
import { parseRollout, parseWeights, routeShare, rolloutView } from './rollout'

// Rollout states as `vacunometro rollout` publishes them (internal/rollout
// State): `step` and each check's `step` are the route's percentage.

const check = (step: number, verdict: string, over: Record<string, unknown> = {}) => ({
  step,
  success_pct: 100,
  p99_ms: 12.5,
  lag_p99_ms: 80,
  records: 240,
  verdict,
  reason: `${verdict} at ${step}%`,
  ...over,
})

const base = {
  route: 'pubsub',
  steps: [5, 25, 50, 100],
  from: { grpc: 50, redis: 50, pubsub: 0 },
  backend: 'in-process split',
  max_failures: 2,
  started_at: '2026-11-27T08:00:00Z',
  updated_at: '2026-11-27T08:03:00Z',
}

const RUNNING = {
  ...base,
  step: 25,
  weights: { grpc: 40, pubsub: 25, redis: 35 },
  checks: [check(5, 'pass'), check(5, 'pass'), check(25, 'inconclusive', { success_pct: null, p99_ms: null, lag_p99_ms: null, records: 0 })],
  verdict: 'running',
  reason: '',
  failed_checks: 0,
}
const PROMOTED = {
  ...base,
  step: 100,
  weights: { grpc: 0, pubsub: 100, redis: 0 },
  checks: [check(5, 'pass'), check(25, 'pass'), check(50, 'pass')],
  verdict: 'promoted',
  reason: 'pubsub passed every step (5, 25, 50) and takes 100% of the traffic',
  failed_checks: 0,
}
const ROLLED_BACK = {
  ...base,
  step: 0,
  weights: { grpc: 50, pubsub: 0, redis: 50 },
  checks: [
    check(5, 'pass'),
    check(25, 'fail', { success_pct: 80.5, reason: 'success 80.5% < 99%' }),
    check(25, 'fail', { success_pct: 79.25, p99_ms: 1250, reason: 'success 79.25% < 99%' }),
  ],
  verdict: 'rolled_back',
  reason: '2 failed checks (--max-failures 2); last at step 2/4 (pubsub 25%): success 79.25% < 99%',
  failed_checks: 2,
}
const INTERRUPTED = {
  ...base,
  step: 50,
  weights: { grpc: 25, pubsub: 50, redis: 25 },
  checks: [check(5, 'pass'), check(25, 'pass')],
  verdict: 'interrupted',
  reason: 'stopped by a signal or deadline at step 3/4 (pubsub 50%); the split is now grpc=25,redis=25,pubsub=50',
  failed_checks: 0,
}

describe('parseRollout', () => {
  it('reads a running rollout: route, steps, the split in route order, and null for unmeasured figures', () => {
    const r = parseRollout(RUNNING)!
    expect(r.route).toBe('pubsub')
    expect(r.steps).toEqual([5, 25, 50, 100])
    expect(r.step).toBe(25)
    expect(r.weights).toEqual([
      ['grpc', 40],
      ['redis', 35],
      ['pubsub', 25],
    ])
    expect(r.from).toEqual([
      ['grpc', 50],
      ['redis', 50],
      ['pubsub', 0],
    ])
    expect(r.verdict).toBe('running')
    expect(r.checks).toHaveLength(3)
    expect(r.checks[0]).toEqual({ step: 5, success_pct: 100, p99_ms: 12.5, lag_p99_ms: 80, records: 240, verdict: 'pass', verdict_raw: 'pass', reason: 'pass at 5%' })
    expect(r.checks[2]).toMatchObject({ verdict: 'inconclusive', success_pct: null, p99_ms: null, lag_p99_ms: null, records: 0 })
    expect(r.max_failures).toBe(2)
    expect(r.failed_checks).toBe(0)
    expect(r.updated_at).toBe('2026-11-27T08:03:00Z')
  })

  it('reads the three endings with their reasons', () => {
    expect(parseRollout(PROMOTED)).toMatchObject({ verdict: 'promoted', step: 100, reason: PROMOTED.reason })
    expect(parseRollout(ROLLED_BACK)).toMatchObject({ verdict: 'rolled_back', step: 0, failed_checks: 2, reason: ROLLED_BACK.reason })
    expect(parseRollout(INTERRUPTED)).toMatchObject({ verdict: 'interrupted', step: 50, reason: INTERRUPTED.reason })
  })

  it('is absent when there is nothing to show', () => {
    for (const v of [undefined, null, 'rollout', 42, [], [RUNNING], {}, { unrelated: true }, { route: 7, steps: 'x', checks: {}, verdict: 1 }]) {
      expect(parseRollout(v)).toBeNull()
    }
  })

  it('survives a malformed or newer state: bad fields default, unknown ones are ignored', () => {
    const r = parseRollout({
      route: 'redis',
      steps: [5, '25', null, 50, Infinity],
      step: 'two',
      weights: { grpc: '40', redis: 60, '': 5, canary: 10 },
      checks: [
        { step: 5, success_pct: 'high', p99_ms: -1, verdict: 'pass', future: { a: 1 } },
        'not a check',
        null,
        { verdict: 'skipped' },
      ],
      verdict: 'paused',
      reason: 42,
      failed_checks: '1',
      updated_at: '0001-01-01T00:00:00Z', // Go's zero time
      something_new: [1, 2, 3],
    })!
    expect(r.steps).toEqual([5, 50])
    expect(r.step).toBeNull()
    expect(r.weights).toEqual([
      ['redis', 60],
      ['canary', 10],
    ])
    expect(r.checks).toHaveLength(2)
    expect(r.checks[0]).toMatchObject({ step: 5, success_pct: null, p99_ms: -1, lag_p99_ms: null, verdict: 'pass' })
    expect(r.checks[1]).toMatchObject({ step: 0, verdict: 'unknown', verdict_raw: 'skipped', reason: '' })
    expect(r.verdict).toBe('unknown')
    expect(r.verdict_raw).toBe('paused')
    expect(r.reason).toBe('')
    expect(r.failed_checks).toBeNull()
    expect(r.updated_at).toBeNull()
    expect(r.from).toEqual([])
    // and the view of it does not throw
    expect(rolloutView(r).steps.map((s) => s.state)).toEqual(['pending', 'pending'])
  })

  it('rides in the snapshot, and a snapshot without it (or with garbage) has none', () => {
    expect(parseSnapshot({ ...snapshot(), rollout: ROLLED_BACK })!.rollout).toMatchObject({ verdict: 'rolled_back', route: 'pubsub' })
    const { rollout: _, ...without } = snapshot()
    expect(parseSnapshot(without)!.rollout).toBeNull()
    expect(parseSnapshot({ ...snapshot(), rollout: 'corrupt' })!.rollout).toBeNull()
    expect(parseSnapshot(JSON.stringify({ ...snapshot(), rollout: { verdict: 'running' } }))!.rollout).toMatchObject({ route: '', verdict: 'running', steps: [] })
  })
})

describe('rolloutView', () => {
  const states = (v: unknown) => rolloutView(parseRollout(v)!).steps.map((s) => s.state)

  it('running: earlier steps done, the current one highlighted, later ones pending', () => {
    const v = rolloutView(parseRollout(RUNNING)!)
    expect(v.steps.map((s) => s.state)).toEqual(['done', 'current', 'pending', 'pending'])
    expect(v.highlighted).toBe(1)
    expect(v.share).toBe(25)
    expect(v.steps[0]).toMatchObject({ percent: 5, pass: 2, fail: 0, inconclusive: 0 })
    expect(v.steps[1]).toMatchObject({ percent: 25, pass: 0, fail: 0, inconclusive: 1 })
  })

  it('running before the first step: nothing reached yet', () => {
    const v = rolloutView(parseRollout({ ...RUNNING, step: 0, weights: { grpc: 50, redis: 50, pubsub: 0 }, checks: [] })!)
    expect(v.steps.map((s) => s.state)).toEqual(['pending', 'pending', 'pending', 'pending'])
    expect(v.highlighted).toBe(-1)
    expect(v.share).toBe(0)
  })

  it('promoted: every step done, the last highlighted', () => {
    const v = rolloutView(parseRollout(PROMOTED)!)
    expect(v.steps.map((s) => s.state)).toEqual(['done', 'done', 'done', 'done'])
    expect(v.highlighted).toBe(3)
    expect(v.share).toBe(100)
  })

  it('rolled back: the step of the last check failed, though the split went back to where it was', () => {
    const v = rolloutView(parseRollout(ROLLED_BACK)!)
    expect(v.steps.map((s) => s.state)).toEqual(['done', 'failed', 'pending', 'pending'])
    expect(v.highlighted).toBe(1)
    expect(v.steps[1]).toMatchObject({ fail: 2, pass: 0 })
    expect(v.share).toBe(0)
    // rolled back before any check (e.g. the first split change failed): nothing highlighted
    expect(states({ ...ROLLED_BACK, checks: [] })).toEqual(['pending', 'pending', 'pending', 'pending'])
  })

  it('interrupted: stopped at the step it was on', () => {
    const v = rolloutView(parseRollout(INTERRUPTED)!)
    expect(v.steps.map((s) => s.state)).toEqual(['done', 'done', 'stopped', 'pending'])
    expect(v.highlighted).toBe(2)
    // the split read back is between steps (someone changed it by hand): fall back to the last check's step
    expect(states({ ...INTERRUPTED, step: 33, weights: { grpc: 33, redis: 34, pubsub: 33 } })).toEqual(['done', 'stopped', 'pending', 'pending'])
  })

  it('a `step` that is not a percentage of the plan (an index) falls back to the route’s weight', () => {
    // the example of issue 7: "step":2 with pubsub at 25
    const v = rolloutView(parseRollout({ ...RUNNING, step: 2 })!)
    expect(v.highlighted).toBe(1)
    expect(v.steps[1].state).toBe('current')
  })

  it('routeShare is the route’s part of all weights, whatever they add up to', () => {
    expect(routeShare(parseRollout({ route: 'redis', weights: { grpc: 1, redis: 1 } })!)).toBe(50)
    expect(routeShare(parseRollout({ route: 'redis', weights: {} })!)).toBeNull()
    expect(routeShare(parseRollout({ route: 'canary', weights: { grpc: 10 } })!)).toBe(0)
  })

  it('parseWeights puts known routes first, in the split panel’s order', () => {
    expect(parseWeights({ zeta: 1, pubsub: 2, alpha: 3, grpc: 4 }).map(([k]) => k)).toEqual(['grpc', 'pubsub', 'alpha', 'zeta'])
  })
})
