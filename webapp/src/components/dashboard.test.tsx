import { act } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { I18nContext } from '../i18n-context'
import { STRINGS } from '../lib/i18n'
import { NO_DATA } from '../lib/view'
import { snapshot } from '../test-fixtures'
import type { Metric } from '../types'
import { DeptMap } from './DeptMap'
import { Header } from './Header'
import { Latest } from './Latest'
import { RolloutPanel } from './RolloutPanel'
import { RouteSplit } from './RouteSplit'
import { parseRollout } from '../lib/rollout'

// React 19's act() wants this flag in a non-Jest environment.
;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

let host: HTMLDivElement
let root: Root

beforeEach(() => {
  host = document.createElement('div')
  document.body.appendChild(host)
  root = createRoot(host)
})
afterEach(() => {
  act(() => root.unmount())
  host.remove()
})

const q = (id: string) => host.querySelector(`[data-testid="${id}"]`)!

describe('the dashboard components', () => {
  it('shades each department by the chosen measure and shows its figures on focus', () => {
    const snap = snapshot()
    const render = (metric: Metric, lang: 'es' | 'en' = 'es') =>
      act(() =>
        root.render(
          <I18nContext.Provider value={{ lang, t: STRINGS[lang] }}>
            <DeptMap departments={snap.departments} metric={metric} onMetric={() => {}} />
          </I18nContext.Provider>,
        ),
      )
    render('first')
    expect(host.querySelectorAll('path[data-testid^="dept-"]')).toHaveLength(22)
    const gt04 = q('dept-GT-04')
    expect(Number(gt04.getAttribute('data-value'))).toBeCloseTo((2000 / 615776) * 100, 12)
    expect(gt04.getAttribute('fill')).not.toBe(NO_DATA)
    expect(q('dept-GT-17').getAttribute('fill')).toBe(NO_DATA) // no records
    expect(q('dept-GT-22').getAttribute('fill')).toBe(NO_DATA) // not in the snapshot at all
    expect(gt04.getAttribute('tabindex')).toBe('0')
    expect(gt04.getAttribute('aria-label')).toMatch(/^Chimaltenango: /)

    act(() => (gt04 as HTMLElement).focus())
    expect(q('dept-info').textContent).toContain('Chimaltenango')
    expect(q('dept-info').textContent).toContain('615,776')

    render('full')
    expect(Number(q('dept-GT-04').getAttribute('data-value'))).toBeCloseTo((100 / 615776) * 100, 12)
    render('full', 'en')
    expect(q('map-legend').textContent).toContain('No records')
  })

  it('shows the header totals and the connection status', () => {
    const snap = snapshot()
    act(() =>
      root.render(
        <I18nContext.Provider value={{ lang: 'es', t: STRINGS.es }}>
          <Header snap={snap} conn={{ status: 'reconnecting', transport: 'http', attempt: 2, nextRetryMs: 500 }} onToggleLang={() => {}} />
        </I18nContext.Provider>,
      ),
    )
    expect(q('total-doses').getAttribute('data-value')).toBe('6610')
    expect(q('total-doses').textContent).toBe('6,610')
    expect(q('people-vaccinated').textContent).toContain('5,000')
    expect(q('connection-status').getAttribute('data-status')).toBe('reconnecting')
    expect(q('connection-status').textContent).toContain('consulta periódica')
  })

  it('lists the latest records and the route split', () => {
    const snap = snapshot()
    act(() =>
      root.render(
        <I18nContext.Provider value={{ lang: 'en', t: STRINGS.en }}>
          <Latest records={snap.latest} />
          <RouteSplit routes={snap.routes} />
        </I18nContext.Provider>,
      ),
    )
    expect(host.querySelectorAll('[data-testid="latest-record"]')).toHaveLength(1)
    expect(q('latest-records').textContent).toContain('Duglas F. A. T.')
    expect(q('route-grpc').getAttribute('data-observed')).toBe('40')
    expect(q('route-grpc').getAttribute('data-configured')).toBe('34')
    expect(q('route-split').getAttribute('data-total')).toBe('100')
  })
})

describe('the rollout panel', () => {
  const rolledBack = parseRollout({
    route: 'pubsub',
    steps: [5, 25, 50, 100],
    step: 0,
    weights: { grpc: 50, redis: 50, pubsub: 0 },
    from: { grpc: 50, redis: 50, pubsub: 0 },
    checks: [
      { step: 5, success_pct: 100, p99_ms: 12.5, lag_p99_ms: 80, verdict: 'pass', reason: 'ok' },
      { step: 25, success_pct: 79.25, p99_ms: 1250, lag_p99_ms: null, verdict: 'fail', reason: 'success 79.25% < 99%' },
      { step: 25, success_pct: null, p99_ms: null, lag_p99_ms: null, verdict: 'inconclusive', reason: 'no records' },
    ],
    verdict: 'rolled_back',
    reason: '2 failed checks (--max-failures 2)',
    failed_checks: 2,
    max_failures: 2,
    updated_at: '2026-11-27T08:03:00Z',
  })
  const render = (lang: 'es' | 'en', r = rolledBack) =>
    act(() =>
      root.render(
        <I18nContext.Provider value={{ lang, t: STRINGS[lang] }}>
          <RolloutPanel rollout={r} />
        </I18nContext.Provider>,
      ),
    )

  it('is not there when no rollout ran', () => {
    render('es', null)
    expect(host.querySelector('[data-testid="rollout-panel"]')).toBeNull()
    expect(host.textContent).toBe('')
  })

  it('shows the route, the steps, the split, every check and the verdict, in Spanish', () => {
    render('es')
    expect(q('rollout-panel').getAttribute('data-route')).toBe('pubsub')
    expect(q('rollout-route').textContent).toBe('pubsub')
    const v = q('rollout-verdict')
    expect(v.getAttribute('data-verdict')).toBe('rolled_back')
    expect(v.textContent).toContain('Revertido')
    expect(v.textContent).toContain('2 failed checks (--max-failures 2)')
    expect(v.querySelector('svg')).not.toBeNull() // an icon, not colour alone

    const steps = [...host.querySelectorAll('[data-testid^="rollout-step-"]')]
    expect(steps.map((s) => s.getAttribute('data-state'))).toEqual(['done', 'failed', 'pending', 'pending'])
    expect(q('rollout-step-25').getAttribute('aria-current')).toBe('step')
    expect(q('rollout-step-25').textContent).toContain('falló')
    expect(q('rollout-step-5').getAttribute('aria-current')).toBeNull()

    expect(q('rollout-weight-pubsub').getAttribute('data-weight')).toBe('0')
    expect(q('rollout-weight-pubsub').textContent).toContain('destino')
    expect(q('rollout-budget').textContent).toBe('2 de 2 (se revierte al llegar a 2)')

    expect(q('rollout-checks').getAttribute('data-count')).toBe('3')
    const five = q('rollout-check-5')
    expect(five.getAttribute('data-verdict')).toBe('pass')
    expect(five.textContent).toContain('100%')
    expect(five.textContent).toContain('12.5 ms')
    expect(five.textContent).toContain('80 ms')
    expect(five.textContent).toContain('Aprobado')
    const at25 = [...host.querySelectorAll('[data-testid="rollout-check-25"]')]
    expect(at25.map((r) => r.getAttribute('data-verdict'))).toEqual(['fail', 'inconclusive'])
    expect(at25[0].textContent).toContain('79.25%')
    expect(at25[0].textContent).toContain('1.25 s')
    expect(at25[0].textContent).toContain('Falló')
    expect(at25[0].textContent).toContain('success 79.25% < 99%')
    expect(at25[1].textContent).toContain('No concluyente')
    expect(at25[1].textContent).toContain('—')
    // each verdict has its own badge shape and word, not only a colour
    const badges = [...host.querySelectorAll('.badge')]
    expect(badges.map((b) => b.className)).toEqual(['badge badge-pass', 'badge badge-fail', 'badge badge-inconclusive'])
    const shapes = badges.map((b) => b.querySelector('svg')!.firstElementChild!.tagName.toLowerCase())
    expect(new Set(shapes).size).toBe(3)
  })

  it('speaks English with the switch', () => {
    render('en')
    expect(q('rollout-panel').textContent).toContain('Progressive rollout')
    expect(q('rollout-verdict').textContent).toContain('Rolled back')
    expect(q('rollout-check-5').textContent).toContain('Pass')
    expect(q('rollout-budget').textContent).toBe('2 of 2 (rolls back at 2)')
  })

  it('shows each state by its verdict', () => {
    for (const [verdict, es] of [
      ['running', 'En curso'],
      ['promoted', 'Promovido'],
      ['interrupted', 'Interrumpido'],
      ['something-new', 'something-new'],
    ] as const) {
      render('es', parseRollout({ route: 'redis', steps: [50, 100], step: 50, weights: { redis: 50, grpc: 50 }, checks: [], verdict }))
      const want = verdict === 'something-new' ? 'unknown' : verdict
      expect(q('rollout-verdict').getAttribute('data-verdict')).toBe(want)
      expect(q('rollout-verdict').textContent).toContain(es)
      expect(q('rollout-panel').textContent).toContain('Aún no hay chequeos.')
    }
  })
})
