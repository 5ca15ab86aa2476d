import { describe, expect, it } from 'vitest'
import { coverage, deptFromSearch, movingAverage, searchWithDept, seriesUrl } from './series'

describe('movingAverage', () => {
  it('is the trailing 7-day mean, shorter at the start', () => {
    expect(movingAverage([7, 0, 0, 0, 0, 0, 0, 14])).toEqual([7, 3.5, 7 / 3, 7 / 4, 7 / 5, 7 / 6, 1, 2])
  })
  it('is empty for no days', () => {
    expect(movingAverage([])).toEqual([])
  })
})

describe('coverage', () => {
  it('turns cumulative first and second doses into % of the population', () => {
    const days = [
      { date: '2021-03-01', doses: [10, 0, 0, 0], total: 10, cumulative: [10, 0, 0, 0] },
      { date: '2021-03-02', doses: [10, 5, 1, 0], total: 16, cumulative: [20, 5, 1, 0] },
    ]
    expect(coverage(days, 200)).toEqual([
      { date: '2021-03-01', first: 5, full: 0 },
      { date: '2021-03-02', first: 10, full: 2.5 },
    ])
    expect(coverage(days, 0)[1]).toEqual({ date: '2021-03-02', first: 0, full: 0 })
  })
})

describe('the department in the URL', () => {
  it('reads ?d= codes GT-01..GT-22 only', () => {
    expect(deptFromSearch('?d=GT-09')).toBe('GT-09')
    expect(deptFromSearch('?d=gt-22')).toBe('GT-22')
    expect(deptFromSearch('?d=GT-23')).toBeNull()
    expect(deptFromSearch('?d=<script>')).toBeNull()
    expect(deptFromSearch('')).toBeNull()
  })
  it('sets and clears ?d= keeping other parameters', () => {
    expect(searchWithDept('', 'GT-09')).toBe('?d=GT-09')
    expect(searchWithDept('?x=1&d=GT-01', 'GT-09')).toBe('?x=1&d=GT-09')
    expect(searchWithDept('?d=GT-09', null)).toBe('')
    expect(seriesUrl('GT-09')).toBe('/api/series?department=GT-09')
    expect(seriesUrl(null)).toBe('/api/series')
  })
})
