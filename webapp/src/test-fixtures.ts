import type { DepartmentStats, Snapshot } from './types'

export function dept(code: string, name: string, population: number, doses: number[]): DepartmentStats {
  return {
    code,
    name,
    population,
    total: doses.reduce((a, b) => a + b, 0),
    doses,
    people_vaccinated: doses[0],
    fully_vaccinated: doses[1],
    people_vaccinated_pct: (doses[0] / population) * 100,
    fully_vaccinated_pct: (doses[1] / population) * 100,
  }
}

export function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  const departments = [
    dept('GT-01', 'Guatemala', 3015081, [3000, 1500, 10, 0]),
    dept('GT-04', 'Chimaltenango', 615776, [2000, 100, 0, 0]),
    dept('GT-17', 'Petén', 545600, [0, 0, 0, 0]),
  ]
  return {
    total: 6610,
    population: 14901286,
    people_vaccinated: 5000,
    fully_vaccinated: 1600,
    boosters: 10,
    people_vaccinated_pct: (5000 / 14901286) * 100,
    fully_vaccinated_pct: (1600 / 14901286) * 100,
    departments,
    vaccines: [
      { name: 'Moderna', count: 10 },
      { name: 'Sputnik V', count: 30 },
    ],
    doses: ['1', '2', '3', '4'].map((name, i) => ({ name, count: [5000, 1600, 10, 0][i] })),
    age_bands: [
      { name: '0-11', count: 0 },
      { name: '18-29', count: 5 },
    ],
    routes: [
      { name: 'grpc', weight: 34, count: 40 },
      { name: 'redis', weight: 33, count: 30 },
      { name: 'pubsub', weight: 33, count: 30 },
    ],
    latest: [
      {
        id: 'a1',
        name: 'Duglas F. A. T.',
        department_code: 'GT-04',
        department: 'Chimaltenango',
        age: 19,
        vaccine: 'Sputnik V',
        dose: 1,
        route: 'grpc',
        received_at: '2026-11-27T08:00:00Z',
      },
    ],
    records_per_second: 12.5,
    synthetic: 0,
    updated_at: '2026-11-27T08:00:00Z',
    generated_at: '2026-11-27T08:00:01Z',
    rollout: null,
    rebuilding: null,
    ...over,
  }
}
