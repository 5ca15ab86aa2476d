import { describe, expect, it } from 'vitest'
import { snapshot } from '../test-fixtures'
import { parseSnapshot } from './parse'

describe('parseSnapshot', () => {
  it('reads a snapshot from JSON text or an object', () => {
    const s = snapshot()
    expect(parseSnapshot(JSON.stringify(s))).toEqual(s)
    expect(parseSnapshot(s)).toEqual(s)
  })
  it('rejects what is not a snapshot', () => {
    for (const v of ['', 'nope', '[]', '{"total":"3","departments":[]}', '{"total":3}', null, 42]) {
      expect(parseSnapshot(v)).toBeNull()
    }
  })
  it('fills in what an older or newer server leaves out', () => {
    const s = parseSnapshot({ total: 3, departments: [{ code: 'GT-04', name: 'Chimaltenango', doses: [3] }], updated_at: null })!
    expect(s.total).toBe(3)
    expect(s.departments[0].doses).toEqual([3, 0, 0, 0])
    expect(s.departments[0].people_vaccinated_pct).toBe(0)
    expect(s.latest).toEqual([])
    expect(s.routes).toEqual([])
    expect(s.updated_at).toBeNull()
  })
})
