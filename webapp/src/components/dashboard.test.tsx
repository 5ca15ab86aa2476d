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
import { RouteSplit } from './RouteSplit'

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
