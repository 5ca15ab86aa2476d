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
  updated_at: string | null
  generated_at: string
}

export type Metric = 'first' | 'full'
