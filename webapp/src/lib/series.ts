import type { SeriesDay } from '../types'
import { percent } from './view'

// Series-to-chart math and the department URL, as pure functions.

/** movingAverage is the trailing n-day mean of values (shorter at the start). */
export function movingAverage(values: number[], n = 7): number[] {
  const out: number[] = []
  let sum = 0
  values.forEach((v, i) => {
    sum += v
    if (i >= n) sum -= values[i - n]
    out.push(sum / Math.min(i + 1, n))
  })
  return out
}

export interface CoveragePoint {
  date: string
  first: number // % of the population with a first dose, by the end of that day
  full: number // % with the full series (dose 2)
}

/** coverage turns the cumulative doses of a series into % of population. */
export function coverage(days: SeriesDay[], population: number): CoveragePoint[] {
  return days.map((d) => ({ date: d.date, first: percent(d.cumulative[0] ?? 0, population), full: percent(d.cumulative[1] ?? 0, population) }))
}

const CODE = /^GT-(0[1-9]|1\d|2[0-2])$/

/** deptFromSearch reads the selected department (?d=GT-09) from a query string; null for the country. */
export function deptFromSearch(search: string): string | null {
  const d = new URLSearchParams(search).get('d')?.toUpperCase() ?? ''
  return CODE.test(d) ? d : null
}

/** searchWithDept returns the query string with ?d= set to code (or removed for null), other parameters kept. */
export function searchWithDept(search: string, code: string | null): string {
  const p = new URLSearchParams(search)
  if (code) p.set('d', code)
  else p.delete('d')
  const s = p.toString()
  return s ? `?${s}` : ''
}

/** seriesUrl is the /api/series request for a department (null: the country). */
export function seriesUrl(code: string | null): string {
  return code ? `/api/series?department=${encodeURIComponent(code)}` : '/api/series'
}
