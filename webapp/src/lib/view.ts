import type { DepartmentStats, Metric, NamedCount, RouteStats } from '../types'

// Snapshot-to-view math: everything the charts show that is not copied
// straight from the snapshot is computed here, as pure functions, so that
// the unit tests cover it.

/** percent returns part as a percentage (0-100) of whole; 0 when whole is not positive. */
export function percent(part: number, whole: number): number {
  if (!(whole > 0) || !Number.isFinite(part)) return 0
  return (part / whole) * 100
}

/** deptValue is the percentage shown for a department under a metric. */
export function deptValue(d: DepartmentStats, metric: Metric): number {
  return metric === 'first' ? d.people_vaccinated_pct : d.fully_vaccinated_pct
}

/** deptCount is the number of people behind deptValue. */
export function deptCount(d: DepartmentStats, metric: Metric): number {
  return metric === 'first' ? d.people_vaccinated : d.fully_vaccinated
}

export interface RankedDepartment {
  rank: number
  code: string
  name: string
  value: number
  count: number
  population: number
}

/**
 * rankDepartments orders departments by coverage under metric, highest
 * first; ties go by name (Spanish collation) so the order is stable between
 * frames. Equal values share a rank (1, 2, 2, 4).
 */
export function rankDepartments(depts: DepartmentStats[], metric: Metric): RankedDepartment[] {
  const rows = depts.map((d) => ({
    rank: 0,
    code: d.code,
    name: d.name,
    value: deptValue(d, metric),
    count: deptCount(d, metric),
    population: d.population,
  }))
  rows.sort((a, b) => b.value - a.value || a.name.localeCompare(b.name, 'es'))
  rows.forEach((r, i) => {
    r.rank = i > 0 && rows[i - 1].value === r.value ? rows[i - 1].rank : i + 1
  })
  return rows
}

export interface Share {
  name: string
  count: number
  share: number // percent of the sum of counts
}

/** shares turns counts into percentages of their sum (all 0 when the sum is 0). */
export function shares(items: NamedCount[]): Share[] {
  const sum = items.reduce((s, i) => s + Math.max(0, i.count), 0)
  return items.map((i) => ({ name: i.name, count: i.count, share: percent(Math.max(0, i.count), sum) }))
}

export interface RouteSplitRow {
  name: string
  weight: number
  configured: number // percent of the sum of weights
  count: number
  observed: number // percent of the records counted over all routes
}

/** routeSplit sets each route's configured share (by weight) against its observed share (by count). */
export function routeSplit(routes: RouteStats[]): RouteSplitRow[] {
  const wsum = routes.reduce((s, r) => s + Math.max(0, r.weight), 0)
  const csum = routes.reduce((s, r) => s + Math.max(0, r.count), 0)
  return routes.map((r) => ({
    name: r.name,
    weight: r.weight,
    configured: percent(Math.max(0, r.weight), wsum),
    count: r.count,
    observed: percent(Math.max(0, r.count), csum),
  }))
}

/** maxCount is the largest count in a list (0 for an empty list). */
export function maxCount(items: { count: number }[]): number {
  return items.reduce((m, i) => Math.max(m, i.count), 0)
}

// ---- colour scale ---------------------------------------------------------

/**
 * Sequential palette for the map: five samples of viridis, reversed so that
 * light means low and dark means high (readable on a light page, and
 * distinguishable under the common colour-vision deficiencies and in grey).
 */
export const SEQUENTIAL = ['#fde725', '#5ec962', '#21918c', '#3b528b', '#440154'] as const
/** NO_DATA fills a department with no records under the metric. */
export const NO_DATA = '#e4e4e4'

/**
 * niceMax rounds a maximum up to 1, 2, 2.5 or 5 times a power of ten, so
 * that the legend's bounds are short numbers. The map's domain follows the
 * data (coverage starts at a few millionths of a percent), capped at 100.
 */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1
  if (max >= 100) return 100
  const p = Math.pow(10, Math.floor(Math.log10(max)))
  for (const m of [1, 2, 2.5, 5, 10]) {
    const v = m * p
    // guard against floating error: 0.3 / 0.1 style
    if (v >= max * (1 - 1e-12)) return Math.min(100, Number(v.toPrecision(12)))
  }
  return 100
}

export interface Bucket {
  index: number
  from: number
  to: number
  color: string
}

export interface ColorScale {
  max: number
  buckets: Bucket[]
  /** bucketOf returns the bucket index of a value, or -1 for no data (0). */
  bucketOf: (v: number) => number
  colorOf: (v: number) => string
}

/** colorScale builds equal-width buckets from 0 to niceMax(max of values). */
export function colorScale(values: number[], palette: readonly string[] = SEQUENTIAL): ColorScale {
  const max = niceMax(values.reduce((m, v) => (v > m ? v : m), 0))
  const n = palette.length
  const width = max / n
  const buckets: Bucket[] = palette.map((color, index) => ({
    index,
    from: Number((index * width).toPrecision(12)),
    to: Number(((index + 1) * width).toPrecision(12)),
    color,
  }))
  const bucketOf = (v: number): number => {
    if (!(v > 0)) return -1
    // a value on a bound goes to the upper bucket, except the maximum itself
    const i = Math.floor((v / max) * n + 1e-9)
    return Math.min(n - 1, Math.max(0, i))
  }
  const colorOf = (v: number): string => {
    const i = bucketOf(v)
    return i < 0 ? NO_DATA : palette[i]
  }
  return { max, buckets, bucketOf, colorOf }
}

/**
 * OKABE_ITO is the Okabe-Ito categorical palette (safe for the common forms
 * of colour blindness), black and yellow left out for contrast on white.
 */
export const OKABE_ITO = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00'] as const
