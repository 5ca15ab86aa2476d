// The statistics snapshot as /api/stats returns it and every /ws frame
// carries it (Go: internal/stats/snapshot.go). Percentages are 0-100.

export interface NamedCount {
  name: string
  count: number
}

export interface DepartmentStats {
  code: string
  name: string
  population: number
  total: number
  doses: number[] // index 0 is dose 1
  people_vaccinated: number
  fully_vaccinated: number
  people_vaccinated_pct: number
  fully_vaccinated_pct: number
}

export interface RouteStats {
  name: string
  weight: number
  count: number
}

export interface LatestRecord {
  id: string
  name: string
  department_code: string
  department: string
  age: number
  vaccine: string
  dose: number
  route: string
  received_at: string
}

export interface Snapshot {
  total: number
  population: number
  people_vaccinated: number
  fully_vaccinated: number
  boosters: number
  people_vaccinated_pct: number
  fully_vaccinated_pct: number
  departments: DepartmentStats[]
  vaccines: NamedCount[]
  doses: NamedCount[]
  age_bands: NamedCount[]
  routes: RouteStats[]
  latest: LatestRecord[]
  records_per_second: number
  synthetic: number // test records (smoke and load tests), counted apart: in no other figure
  updated_at: string | null
  generated_at: string
  rollout: Rollout | null // the last progressive rollout; null when none ran
  rebuilding: Rebuilding | null // set while a full rebuild of the view runs
}

// A full rebuild of the view in progress (Go: stats.RebuildStatus).
export interface Rebuilding {
  started_at: string
  scanned: number
  expected: number // about; 0 when unknown
  provisional_as_of?: string // the view was lost: figures saved then, plus what was counted since
}

// The last progressive rollout (`vacunometro rollout`, Go: internal/rollout
// State), as the snapshot carries it. Every field is optional on the wire;
// parseRollout (src/lib/rollout.ts) fills in the defaults below.

export type RolloutVerdict = 'running' | 'promoted' | 'rolled_back' | 'interrupted' | 'unknown'
export type CheckVerdict = 'pass' | 'fail' | 'inconclusive' | 'unknown'

export interface RolloutCheck {
  step: number // the route's percentage when the check ran
  success_pct: number | null // null: not measured (no records in the interval)
  p99_ms: number | null
  lag_p99_ms: number | null
  records: number | null
  verdict: CheckVerdict
  verdict_raw: string // as sent, for a verdict this page does not know
  reason: string
}

export interface Rollout {
  route: string // the route being rolled out
  steps: number[] // the route's percentages, in order
  step: number | null // the route's percentage now (null: not sent)
  weights: [string, number][] // the split now, in a stable route order
  from: [string, number][] // the split before the rollout (empty when not sent)
  checks: RolloutCheck[]
  verdict: RolloutVerdict
  verdict_raw: string
  reason: string
  backend: string
  failed_checks: number | null
  max_failures: number | null
  updated_at: string | null
}

export type Metric = 'first' | 'full'

// GET /api/series (Go: internal/stats/series.go Series). Days are calendar
// days in America/Guatemala (UTC-6); every day from the first with a record
// to the last is present, zeros included.
export interface SeriesDay {
  date: string // YYYY-MM-DD
  doses: number[] // given that day, index 0 is dose 1
  total: number
  cumulative: number[] // given up to and including that day, by dose
}

export interface Series {
  department: string | null // null: the whole country
  name: string
  population: number
  time_zone: string
  utc_offset: string
  from: string | null
  to: string | null
  days: SeriesDay[]
}

// GET /api/departments/{code} (Go: stats.DepartmentDetail).
export interface DepartmentDetail extends DepartmentStats {
  vaccines: NamedCount[]
  by_dose: NamedCount[]
  age_bands: NamedCount[]
}
