// Number and time formatting with Intl, for es-GT (the default) and en.

export type Lang = 'es' | 'en'

export const LOCALES: Record<Lang, string> = { es: 'es-GT', en: 'en' }

const cache = new Map<string, Intl.NumberFormat>()
function nf(lang: Lang, key: string, opts: Intl.NumberFormatOptions): Intl.NumberFormat {
  const k = lang + '|' + key
  let f = cache.get(k)
  if (!f) {
    f = new Intl.NumberFormat(LOCALES[lang], opts)
    cache.set(k, f)
  }
  return f
}

/** formatInt formats a count: 14,901,286. */
export function formatInt(lang: Lang, n: number): string {
  return nf(lang, 'int', { maximumFractionDigits: 0 }).format(n)
}

/** formatRate formats records per second with one decimal: 12.5. */
export function formatRate(lang: Lang, n: number): string {
  return nf(lang, 'rate', { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(n)
}

/**
 * formatPct formats a percentage given in percent (0-100). Coverage starts
 * at millionths of a percent, so small values keep two significant digits
 * instead of rounding to "0%": 0.000067%, 0.54%, 12.3%, 100%.
 */
export function formatPct(lang: Lang, pct: number): string {
  const v = Number.isFinite(pct) ? pct : 0
  if (v === 0) return nf(lang, 'pct0', { style: 'percent', maximumFractionDigits: 0 }).format(0)
  if (Math.abs(v) < 1) {
    return nf(lang, 'pctS', { style: 'percent', maximumSignificantDigits: 2 }).format(v / 100)
  }
  if (Math.abs(v) < 10) {
    return nf(lang, 'pct2', { style: 'percent', maximumFractionDigits: 2 }).format(v / 100)
  }
  return nf(lang, 'pct1', { style: 'percent', maximumFractionDigits: 1 }).format(v / 100)
}

/** formatTime formats an RFC 3339 time as a local clock time, or "—". */
export function formatTime(lang: Lang, iso: string | null | undefined, timeZone?: string): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return '—'
  return new Intl.DateTimeFormat(LOCALES[lang], { timeStyle: 'medium', timeZone }).format(d)
}

/**
 * formatMs formats a latency in milliseconds: "12.5 ms" below a second,
 * "1.25 s" above; "—" when not measured (null).
 */
export function formatMs(lang: Lang, ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—'
  if (Math.abs(ms) >= 1000) {
    return nf(lang, 'sec', { maximumFractionDigits: 2 }).format(ms / 1000) + ' s'
  }
  const digits = Math.abs(ms) < 10 ? 2 : 1
  return nf(lang, 'ms' + digits, { maximumFractionDigits: digits }).format(ms) + ' ms'
}

/**
 * formatSuccess formats a success rate in percent with up to two decimals,
 * rounded down, so that 99.999 % reads "99.99 %" and never "100 %": a check
 * with one failure in 100,000 must not look perfect. "—" when not measured.
 */
export function formatSuccess(lang: Lang, pct: number | null): string {
  if (pct === null || !Number.isFinite(pct)) return '—'
  const v = Math.floor(pct * 100 + 1e-7) / 100 // 1e-7: 0.29 * 100 is 28.999…
  return nf(lang, 'succ', { style: 'percent', maximumFractionDigits: 2 }).format(v / 100)
}
