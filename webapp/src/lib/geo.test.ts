import { describe, expect, it } from 'vitest'
import { projectMap } from './geo'
import { GUATEMALA } from './mapdata'

describe('projectMap', () => {
  it('draws all 22 departments, by code, inside the viewBox', () => {
    expect(GUATEMALA.shapes).toHaveLength(22)
    expect(GUATEMALA.shapes.map((s) => s.code)).toEqual(
      Array.from({ length: 22 }, (_, i) => `GT-${String(i + 1).padStart(2, '0')}`),
    )
    expect(GUATEMALA.shapes.find((s) => s.code === 'GT-17')?.name).toBe('Petén')
    for (const s of GUATEMALA.shapes) {
      const nums = s.d.match(/-?\d+(\.\d+)?/g)!.map(Number)
      expect(nums.length).toBeGreaterThan(20)
      for (let i = 0; i < nums.length; i += 2) {
        expect(nums[i]).toBeGreaterThanOrEqual(0)
        expect(nums[i]).toBeLessThanOrEqual(GUATEMALA.width)
        expect(nums[i + 1]).toBeGreaterThanOrEqual(0)
        expect(nums[i + 1]).toBeLessThanOrEqual(GUATEMALA.height)
      }
    }
  })
  it('puts north up and scales longitude by cos(latitude)', () => {
    // a 1°x1° square at the equator stays square; at 60° it is half as wide
    const sq = (lat: number) => ({
      type: 'FeatureCollection',
      features: [
        {
          properties: { code: 'X' },
          geometry: { type: 'Polygon', coordinates: [[[0, lat], [1, lat], [1, lat + 1], [0, lat + 1], [0, lat]]] },
        },
      ],
    })
    const eq = projectMap(sq(-0.5), 100, 0)
    expect(eq.height).toBe(100)
    const north = projectMap(sq(59.5), 100, 0)
    expect(north.height).toBeGreaterThanOrEqual(199)
    expect(north.height).toBeLessThanOrEqual(201)
    // the first point (south-west corner) is at the bottom left
    expect(eq.shapes[0].d.startsWith('M0.0,100.0')).toBe(true)
  })
})
