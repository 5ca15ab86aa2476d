import { describe, expect, it } from 'vitest'
import { formatInt, formatMs, formatPct, formatRate, formatSuccess, formatTime } from './format'
import { loadLang, saveLang, LANG_KEY, STRINGS } from './i18n'

describe('numbers for es-GT and en', () => {
  it('formats counts with Guatemala’s separators (comma thousands, not Spain’s dots)', () => {
    expect(formatInt('es', 14901286)).toBe('14,901,286')
    expect(formatInt('en', 14901286)).toBe('14,901,286')
    expect(formatInt('es', 0)).toBe('0')
  })
  it('formats records per second with one decimal', () => {
    expect(formatRate('es', 12.5)).toBe('12.5')
    expect(formatRate('en', 1234.56)).toBe('1,234.6')
    expect(formatRate('es', 0)).toBe('0.0')
  })
  it.each([
    ['es', 0, '0%'],
    ['es', 0.0000671, '0.000067%'],
    ['es', 0.5, '0.5%'],
    ['en', 3.14159, '3.14%'],
    ['en', 42.26, '42.3%'],
    ['es', 100, '100%'],
  ] as const)('formatPct(%s, %d) = %s', (lang, v, want) => {
    expect(formatPct(lang, v).replace(/\s/g, '')).toBe(want)
  })
  it('never rounds a small positive coverage down to 0%', () => {
    expect(formatPct('es', 1e-7)).not.toMatch(/^0\s?%$/)
  })
  it('formats clock times per locale', () => {
    const iso = '2026-11-27T15:04:05Z'
    expect(formatTime('es', iso, 'UTC').replace(/\s/g, ' ')).toBe('3:04:05 p. m.')
    expect(formatTime('en', iso, 'UTC').replace(/\s/g, ' ')).toBe('3:04:05 PM')
    expect(formatTime('es', null)).toBe('—')
    expect(formatTime('en', 'not a time')).toBe('—')
  })
})

describe('language choice', () => {
  it('is Spanish unless English was remembered', () => {
    const m = new Map<string, string>()
    const store = { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) }
    expect(loadLang(store)).toBe('es')
    saveLang(store, 'en')
    expect(m.get(LANG_KEY)).toBe('en')
    expect(loadLang(store)).toBe('en')
    expect(loadLang(undefined)).toBe('es')
    const broken = {
      getItem: () => {
        throw new Error('denied')
      },
      setItem: () => {
        throw new Error('denied')
      },
    }
    expect(loadLang(broken)).toBe('es')
    expect(() => saveLang(broken, 'en')).not.toThrow()
  })
  it('has every string in both languages', () => {
    expect(Object.keys(STRINGS.en).sort()).toEqual(Object.keys(STRINGS.es).sort())
    expect(STRINGS.es.totalDoses).not.toBe(STRINGS.en.totalDoses)
  })
})

describe('rollout figures', () => {
  it('formats latencies in ms below a second and in s above, "—" when not measured', () => {
    expect(formatMs('es', 12.5)).toBe('12.5 ms')
    expect(formatMs('es', 3.456)).toBe('3.46 ms')
    expect(formatMs('en', 80)).toBe('80 ms')
    expect(formatMs('en', 1250)).toBe('1.25 s')
    expect(formatMs('es', null)).toBe('—')
  })
  it('never rounds a success rate up to 100 %', () => {
    expect(formatSuccess('es', 100)).toBe('100%')
    expect(formatSuccess('es', 99.999)).toBe('99.99%')
    expect(formatSuccess('en', 0.29)).toBe('0.29%')
    expect(formatSuccess('en', 80.5)).toBe('80.5%')
    expect(formatSuccess('en', null)).toBe('—')
  })
})
