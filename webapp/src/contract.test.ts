// The dashboard's types (src/types.ts) checked against the published API
// contract (internal/publicapi/openapi.json), which the Go contract test
// checks against the real handlers: so the Go snapshot and these types
// cannot drift apart. Each fixture below is type-checked as its interface
// (tsc -b: no missing, no extra field); the test checks that its fields are
// exactly the schema's properties, with matching JSON types.
import { describe, expect, it } from 'vitest'
import raw from '../../internal/publicapi/openapi.json?raw'
import { dept, snapshot } from './test-fixtures'
import type { DepartmentDetail, LatestRecord, NamedCount, RouteStats, Series, SeriesDay, Snapshot } from './types'

interface Schema {
  type?: string | string[]
  const?: unknown
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  $ref?: string
}
const doc = JSON.parse(raw) as { openapi: string; components: { schemas: Record<string, Schema> } }
const schemas = doc.components.schemas

function resolve(s: Schema): Schema {
  return s.$ref ? schemas[s.$ref.replace('#/components/schemas/', '')] : s
}

function jsonType(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

/** mismatches lists where value does not have the shape of schema (fields and JSON types), recursively. */
function mismatches(name: string, schema: Schema, value: unknown, path = name): string[] {
  const s = resolve(schema)
  const out: string[] = []
  const t = jsonType(value)
  const allowed = s.type === undefined ? null : Array.isArray(s.type) ? s.type : [s.type]
  if (allowed && !(allowed.includes(t) || (t === 'integer' && allowed.includes('number')))) out.push(`${path}: ${t}, schema ${allowed.join('|')}`)
  if (s.const !== undefined && value !== s.const) out.push(`${path}: ${String(value)}, schema const ${String(s.const)}`)
  if (s.properties && t === 'object') {
    const obj = value as Record<string, unknown>
    const have = Object.keys(obj).sort()
    const want = Object.keys(s.properties).sort()
    for (const k of want) if (!have.includes(k)) out.push(`${path}.${k}: in the contract, not in the TypeScript type`)
    for (const k of have) if (!want.includes(k)) out.push(`${path}.${k}: in the TypeScript type, not in the contract`)
    for (const k of have) if (s.properties[k]) out.push(...mismatches(name, s.properties[k], obj[k], `${path}.${k}`))
  }
  if (s.items && t === 'array') (value as unknown[]).forEach((v, i) => out.push(...mismatches(name, s.items as Schema, v, `${path}[${i}]`)))
  return out
}

const named: NamedCount = { name: 'Moderna', count: 1 }
const route: RouteStats = { name: 'grpc', weight: 34, count: 1 }
const latest: LatestRecord = {
  id: 'a1', name: 'Duglas F. A. T.', department_code: 'GT-04', department: 'Chimaltenango', age: 19,
  vaccine: 'Sputnik V', dose: 1, route: 'grpc', received_at: '2026-11-27T08:00:00Z',
}
const day: SeriesDay = { date: '2021-03-01', doses: [1, 0, 0, 0], total: 1, cumulative: [1, 0, 0, 0] }
const series: Series = {
  department: 'GT-04', name: 'Chimaltenango', population: 615776, time_zone: 'America/Guatemala', utc_offset: '-06:00',
  from: '2021-03-01', to: '2021-03-01', days: [day],
}
const detail: DepartmentDetail = { ...dept('GT-04', 'Chimaltenango', 615776, [2, 1, 0, 0]), vaccines: [named], by_dose: [named], age_bands: [named] }
// The wire form of the snapshot carries rollout as the object the rollout
// command published (absent when none ran); the type holds it parsed.
const snap: Snapshot = snapshot({ latest: [latest], routes: [route] })
// So does rebuilding: absent on the wire unless a rebuild runs.
const wireSnap = {
  ...snap, rollout: {},
  rebuilding: { started_at: '2026-12-01T00:00:00Z', scanned: 10, expected: 20, provisional_as_of: '2026-11-30T23:59:55Z' },
}

describe('src/types.ts against /api/openapi.json', () => {
  it('is an OpenAPI 3.1 document', () => {
    expect(doc.openapi).toBe('3.1.0')
  })
  it.each([
    ['Snapshot', wireSnap],
    ['DepartmentStats', snap.departments[0]],
    ['NamedCount', named],
    ['RouteStats', route],
    ['LatestRecord', latest],
    ['Series', series],
    ['Series', { ...series, department: null, from: null, to: null, days: [] }],
    ['SeriesDay', day],
    ['DepartmentDetail', detail],
  ] as [string, unknown][])('%s has the contract\'s fields and types', (name, value) => {
    expect(schemas[name], `schema ${name}`).toBeDefined()
    expect(mismatches(name, schemas[name], value)).toEqual([])
  })
  it('notices a field the contract does not have', () => {
    expect(mismatches('NamedCount', schemas.NamedCount, { ...named, extra: 1 })).toEqual(['NamedCount.extra: in the TypeScript type, not in the contract'])
  })
})
