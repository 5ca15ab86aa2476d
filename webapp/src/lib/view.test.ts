import { describe, expect, it } from 'vitest'
import { dept } from '../test-fixtures'
import { colorScale, NO_DATA, niceMax, percent, rankDepartments, routeSplit, SEQUENTIAL, shares } from './view'

describe('percent', () => {
  it.each([
    [1, 4, 25],
    [0, 10, 0],
    [5, 0, 0], // no population: 0, not Infinity
    [5, -1, 0],
    [615776, 615776, 100],
  ])('%d of %d is %d%%', (part, whole, want) => {
    expect(percent(part, whole)).toBeCloseTo(want, 12)
  })
})

describe('rankDepartments', () => {
  const depts = [
    dept('GT-01', 'Guatemala', 1000, [10, 5, 0, 0]), // 1% / 0.5%
    dept('GT-04', 'Chimaltenango', 100, [5, 0, 0, 0]), // 5% / 0%
    dept('GT-17', 'Petén', 200, [2, 1, 0, 0]), // 1% / 0.5%
    dept('GT-02', 'El Progreso', 50, [0, 0, 0, 0]),
  ]
  it('orders by first-dose coverage, highest first, ties by name, shared ranks', () => {
    const r = rankDepartments(depts, 'first')
    expect(r.map((x) => x.code)).toEqual(['GT-04', 'GT-01', 'GT-17', 'GT-02'])
    expect(r.map((x) => x.rank)).toEqual([1, 2, 2, 4])
    expect(r[0].value).toBeCloseTo(5)
    expect(r[0].count).toBe(5)
  })
  it('orders by full-series coverage under that metric', () => {
    const r = rankDepartments(depts, 'full')
    expect(r.map((x) => x.code)).toEqual(['GT-01', 'GT-17', 'GT-04', 'GT-02'])
    expect(r.map((x) => x.rank)).toEqual([1, 1, 3, 3])
  })
  it('sorts accented names the Spanish way', () => {
    const r = rankDepartments(
      [dept('GT-14', 'Quiché', 10, [0, 0, 0, 0]), dept('GT-17', 'Petén', 10, [0, 0, 0, 0]), dept('GT-08', 'Totonicapán', 10, [0, 0, 0, 0])],
      'first',
    )
    expect(r.map((x) => x.name)).toEqual(['Petén', 'Quiché', 'Totonicapán'])
  })
})

describe('shares', () => {
  it('turns counts into percentages that add up to 100', () => {
    const s = shares([
      { name: 'Moderna', count: 1 },
      { name: 'Sputnik V', count: 3 },
    ])
    expect(s.map((x) => x.share)).toEqual([25, 75])
  })
  it('gives 0 everywhere when nothing was counted', () => {
    expect(shares([{ name: 'a', count: 0 }]).map((x) => x.share)).toEqual([0])
  })
})

describe('routeSplit', () => {
  it('sets configured weights against observed counts', () => {
    const r = routeSplit([
      { name: 'grpc', weight: 34, count: 2 },
      { name: 'redis', weight: 33, count: 2 },
      { name: 'pubsub', weight: 33, count: 1 },
    ])
    expect(r.map((x) => x.configured)).toEqual([34, 33, 33])
    expect(r.map((x) => x.observed)).toEqual([40, 40, 20])
  })
  it('normalises weights that do not add up to 100 and a route turned off', () => {
    const r = routeSplit([
      { name: 'grpc', weight: 1, count: 0 },
      { name: 'redis', weight: 3, count: 0 },
      { name: 'pubsub', weight: 0, count: 0 },
    ])
    expect(r.map((x) => x.configured)).toEqual([25, 75, 0])
    expect(r.map((x) => x.observed)).toEqual([0, 0, 0])
  })
})

describe('niceMax', () => {
  it.each([
    [0, 1],
    [-3, 1],
    [0.000367, 0.0005],
    [0.0002, 0.0002],
    [0.00021, 0.00025],
    [3, 5],
    [7.2, 10],
    [42, 50],
    [99, 100],
    [130, 100], // coverage can pass 100% of a census count; the scale stops there
  ])('niceMax(%d) = %d', (max, want) => {
    expect(niceMax(max)).toBeCloseTo(want, 12)
  })
})

describe('colorScale', () => {
  const s = colorScale([0, 0.000325, 0.000367])
  it('spans 0 to a round maximum in five equal buckets', () => {
    expect(s.max).toBeCloseTo(0.0005, 12)
    expect(s.buckets).toHaveLength(SEQUENTIAL.length)
    expect(s.buckets[0].from).toBe(0)
    expect(s.buckets[4].to).toBeCloseTo(0.0005, 12)
    expect(s.buckets[1].from).toBeCloseTo(0.0001, 12)
  })
  it('keeps 0 apart as "no data" and never shows a positive value as 0', () => {
    expect(s.bucketOf(0)).toBe(-1)
    expect(s.colorOf(0)).toBe(NO_DATA)
    expect(s.bucketOf(1e-12)).toBe(0)
    expect(s.colorOf(1e-12)).toBe(SEQUENTIAL[0])
  })
  it('puts values in their buckets, the maximum in the last', () => {
    expect(s.bucketOf(0.000325)).toBe(3)
    expect(s.bucketOf(0.000367)).toBe(3)
    expect(s.bucketOf(0.0001)).toBe(1) // a bound belongs to the bucket above
    expect(s.bucketOf(0.0005)).toBe(4)
    expect(s.bucketOf(1)).toBe(4) // beyond the domain: clamp
  })
  it('darkens as coverage grows', () => {
    const big = colorScale([10, 20, 50, 100])
    expect(big.max).toBe(100)
    expect(big.colorOf(10)).toBe(SEQUENTIAL[0])
    expect(big.colorOf(50)).toBe(SEQUENTIAL[2])
    expect(big.colorOf(100)).toBe(SEQUENTIAL[4])
  })
  it('handles an all-zero map', () => {
    const z = colorScale([0, 0])
    expect(z.max).toBe(1)
    expect(z.colorOf(0)).toBe(NO_DATA)
  })
})
