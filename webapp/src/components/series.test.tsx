import { act } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { I18nContext } from '../i18n-context'
import { STRINGS } from '../lib/i18n'
import { dept } from '../test-fixtures'
import type { Series } from '../types'
import { DepartmentHeader } from './DepartmentView'
import { Ranking } from './Ranking'
import { CoverageChart, DailyChart } from './SeriesCharts'

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

const series: Series = {
  department: 'GT-09', name: 'Quetzaltenango', population: 1000, time_zone: 'America/Guatemala', utc_offset: '-06:00',
  from: '2021-03-01', to: '2021-03-03',
  days: [
    { date: '2021-03-01', doses: [10, 0, 0, 0], total: 10, cumulative: [10, 0, 0, 0] },
    { date: '2021-03-02', doses: [0, 0, 0, 0], total: 0, cumulative: [10, 0, 0, 0] },
    { date: '2021-03-03', doses: [20, 5, 0, 0], total: 25, cumulative: [30, 5, 0, 0] },
  ],
}

function render(node: React.ReactNode, lang: 'es' | 'en' = 'es') {
  act(() => root.render(<I18nContext.Provider value={{ lang, t: STRINGS[lang] }}>{node}</I18nContext.Provider>))
}

describe('the series charts', () => {
  it('show doses per day with the 7-day average, and a table of every day', () => {
    render(<DailyChart series={series} place="Quetzaltenango" />)
    expect(q('daily-chart').getAttribute('data-sum')).toBe('35')
    const rows = [...host.querySelectorAll('[data-testid="daily-chart"] tbody tr')].map((r) => r.textContent)
    expect(rows).toHaveLength(3)
    expect(rows[2]).toContain('25') // that day's total
    expect(rows[2]).toContain('11.7') // (10 + 0 + 25) / 3
    expect(q('daily-chart').textContent).toContain('Dosis aplicadas por día · Quetzaltenango')
  })
  it('show cumulative coverage with a first dose and with the full series', () => {
    render(<CoverageChart series={series} place="Quetzaltenango" />, 'en')
    expect(Number(q('coverage-chart').getAttribute('data-first'))).toBe(3)
    expect(Number(q('coverage-chart').getAttribute('data-full'))).toBe(0.5)
    expect(q('coverage-chart').textContent).toContain('3% with a first dose, 0.5% with the full series')
  })
  it('say so when there is no daily data yet', () => {
    render(<DailyChart series={null} place="Guatemala" />)
    expect(q('daily-chart').textContent).toContain('Aún no hay datos por día.')
  })
})

describe('the department view', () => {
  it('opens from the ranking and closes with its back control', () => {
    const onOpen = vi.fn()
    render(<Ranking departments={[dept('GT-09', 'Quetzaltenango', 1000, [30, 5, 0, 0])]} metric="first" onOpen={onOpen} />)
    act(() => (q('open-GT-09') as HTMLButtonElement).click())
    expect(onOpen).toHaveBeenCalledWith('GT-09')
    const onClose = vi.fn()
    render(<DepartmentHeader dept={dept('GT-09', 'Quetzaltenango', 1000, [30, 5, 0, 0])} detail={null} onClose={onClose} />)
    expect(q('dept-view').textContent).toContain('Quetzaltenango')
    expect(q('dept-figures').getAttribute('data-total')).toBe('35')
    act(() => (q('dept-back') as HTMLButtonElement).click())
    expect(onClose).toHaveBeenCalledOnce()
  })
})
