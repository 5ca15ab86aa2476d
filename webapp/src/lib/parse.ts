import type { DepartmentStats, LatestRecord, NamedCount, RouteStats, Snapshot } from '../types'
import { parseRollout } from './rollout'

// parseSnapshot checks the shape of a snapshot from the network and returns
// it with every missing list or number defaulted, or null when the text is
// not a snapshot at all. The server is trusted but not blindly: a frame from
// an older or newer server must not crash the page.

type Obj = Record<string, unknown>

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0)
const str = (v: unknown): string => (typeof v === 'string' ? v : '')
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])

function namedCounts(v: unknown): NamedCount[] {
  return arr(v).filter(isObj).map((o) => ({ name: str(o.name), count: num(o.count) }))
}

function department(o: Obj): DepartmentStats {
  const doses = arr(o.doses).map(num)
  while (doses.length < 4) doses.push(0)
  return {
    code: str(o.code),
    name: str(o.name),
    population: num(o.population),
    total: num(o.total),
    doses,
    people_vaccinated: num(o.people_vaccinated),
    fully_vaccinated: num(o.fully_vaccinated),
    people_vaccinated_pct: num(o.people_vaccinated_pct),
    fully_vaccinated_pct: num(o.fully_vaccinated_pct),
  }
}

function route(o: Obj): RouteStats {
  return { name: str(o.name), weight: num(o.weight), count: num(o.count) }
}

function latest(o: Obj): LatestRecord {
  return {
    id: str(o.id),
    name: str(o.name),
    department_code: str(o.department_code),
    department: str(o.department),
    age: num(o.age),
    vaccine: str(o.vaccine),
    dose: num(o.dose),
    route: str(o.route),
    received_at: str(o.received_at),
  }
}

export function parseSnapshot(input: unknown): Snapshot | null {
  let v = input
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v)
    } catch {
      return null
    }
  }
  if (!isObj(v) || typeof v.total !== 'number' || !Array.isArray(v.departments)) return null
  return {
    total: num(v.total),
    population: num(v.population),
    people_vaccinated: num(v.people_vaccinated),
    fully_vaccinated: num(v.fully_vaccinated),
    boosters: num(v.boosters),
    people_vaccinated_pct: num(v.people_vaccinated_pct),
    fully_vaccinated_pct: num(v.fully_vaccinated_pct),
    departments: arr(v.departments).filter(isObj).map(department),
    vaccines: namedCounts(v.vaccines),
    doses: namedCounts(v.doses),
    age_bands: namedCounts(v.age_bands),
    routes: arr(v.routes).filter(isObj).map(route),
    latest: arr(v.latest).filter(isObj).map(latest),
    records_per_second: num(v.records_per_second),
    synthetic: num(v.synthetic),
    updated_at: typeof v.updated_at === 'string' ? v.updated_at : null,
    generated_at: str(v.generated_at),
    rollout: parseRollout(v.rollout),
    rebuilding: isObj(v.rebuilding)
      ? {
          started_at: str(v.rebuilding.started_at),
          scanned: num(v.rebuilding.scanned),
          expected: num(v.rebuilding.expected),
          ...(typeof v.rebuilding.provisional_as_of === 'string' ? { provisional_as_of: v.rebuilding.provisional_as_of } : {}),
        }
      : null,
  }
}
