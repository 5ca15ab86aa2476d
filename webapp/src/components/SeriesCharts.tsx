import { useId, useMemo } from 'react'
import { formatInt, formatPct, type Lang } from '../lib/format'
import { coverage, movingAverage } from '../lib/series'
import { OKABE_ITO } from '../lib/view'
import { useI18n } from '../i18n-context'
import type { Series } from '../types'
import { DataTable } from './DataTable'

const W = 640
const H = 220
const LEFT = 8
const RIGHT = 8
const TOP = 4
const BOTTOM = 2
const TABLE_DAYS = 366 // the table shows the last year; the downloads have every day

const BAR = OKABE_ITO[0] // blue
const AVG = OKABE_ITO[5] // vermillion
const FIRST = OKABE_ITO[0]
const FULL = OKABE_ITO[1] // orange, drawn dashed too

function formatDay(lang: Lang, iso: string): string {
  const [y, m, d] = iso.split('-').map(Number)
  return new Intl.DateTimeFormat(lang === 'es' ? 'es-GT' : 'en', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' }).format(
    new Date(Date.UTC(y, m - 1, d)),
  )
}

function niceMax(v: number): number {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= v) return k * p
  return 10 * p
}

function linePath(values: number[], max: number): string {
  const n = values.length
  const plotW = W - LEFT - RIGHT
  const plotH = H - TOP - BOTTOM
  return values
    .map((v, i) => {
      const x = LEFT + (n === 1 ? plotW / 2 : (i / (n - 1)) * plotW)
      const y = TOP + plotH - (v / max) * plotH
      return `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`
    })
    .join('')
}

function Grid() {
  return (
    <>
      <line x1={LEFT} x2={W - RIGHT} y1={H - BOTTOM + 0.5} y2={H - BOTTOM + 0.5} stroke="#767676" />
      <line x1={LEFT} x2={W - RIGHT} y1={TOP + 0.5} y2={TOP + 0.5} stroke="#d0d0d0" strokeDasharray="3 3" />
    </>
  )
}

// The axis labels are HTML, not SVG text, so that they keep their size
// when the chart shrinks to a phone's width.
function AxisMax({ label }: { label: string }) {
  return (
    <div className="axis-max" aria-hidden="true">
      {label}
    </div>
  )
}

function AxisDays({ lang, first, last }: { lang: Lang; first?: string; last?: string }) {
  return (
    <div className="axis-days" aria-hidden="true">
      <span>{first ? formatDay(lang, first) : ''}</span>
      <span>{last && last !== first ? formatDay(lang, last) : ''}</span>
    </div>
  )
}

/** DailyChart: doses given per day, with the 7-day average. */
export function DailyChart({ series, place }: { series: Series | null; place: string }) {
  const { lang, t } = useI18n()
  const titleId = useId()
  const days = useMemo(() => series?.days ?? [], [series])
  const totals = days.map((d) => d.total)
  const avg = useMemo(() => movingAverage(days.map((d) => d.total)), [days])
  const max = niceMax(Math.max(0, ...totals))
  const plotW = W - LEFT - RIGHT
  const plotH = H - TOP - BOTTOM
  const slot = days.length > 0 ? plotW / days.length : plotW
  const title = `${t.dailyTitle} · ${place}`
  const lastDay = days.at(-1)
  const summary = lastDay
    ? t.dailySummary(formatDay(lang, lastDay.date), formatInt(lang, lastDay.total), formatInt(lang, Math.round(avg.at(-1) ?? 0)))
    : t.noSeries
  const tableDays = days.slice(-TABLE_DAYS)
  const offset = days.length - tableDays.length
  return (
    <section className="card" aria-labelledby={titleId} data-testid="daily-chart" data-days={days.length} data-sum={totals.reduce((a, b) => a + b, 0)}>
      <h2 id={titleId}>{title}</h2>
      <p className="chart-legend">
        <span className="key" style={{ background: BAR }} aria-hidden="true" /> {t.dosesPerDay}
        <span className="key key-line" style={{ borderColor: AVG }} aria-hidden="true" /> {t.avg7}
      </p>
      <AxisMax label={formatInt(lang, max)} />
      <svg viewBox={`0 0 ${W} ${H}`} className="series-chart" role="img" aria-label={`${title}. ${summary}`} preserveAspectRatio="none">
        <Grid />
        {days.map((d, i) => {
          const h = (d.total / max) * plotH
          return <rect key={d.date} x={LEFT + i * slot + slot * 0.1} y={TOP + plotH - h} width={Math.max(0.5, slot * 0.8)} height={h} fill={BAR} />
        })}
        {days.length > 0 && <path d={linePath(avg, max)} fill="none" stroke={AVG} strokeWidth={2.5} vectorEffect="non-scaling-stroke" data-testid="avg7-line" />}
      </svg>
      <AxisDays lang={lang} first={days[0]?.date} last={lastDay?.date} />
      <p className="chart-summary">{summary}</p>
      <DataTable
        caption={days.length > TABLE_DAYS ? `${title} (${t.lastDays(TABLE_DAYS)})` : title}
        head={[t.date, t.doseN('1'), t.doseN('2'), t.doseN('3'), t.doseN('4'), t.total, t.avg7]}
        numeric={[false, true, true, true, true, true, true]}
        rows={tableDays.map((d, i) => [
          formatDay(lang, d.date),
          ...d.doses.map((n) => formatInt(lang, n)),
          formatInt(lang, d.total),
          new Intl.NumberFormat(lang === 'es' ? 'es-GT' : 'en', { maximumFractionDigits: 1 }).format(avg[offset + i]),
        ])}
      />
    </section>
  )
}

/** CoverageChart: % of the population with a first dose and with the full series, over time. */
export function CoverageChart({ series, place }: { series: Series | null; place: string }) {
  const { lang, t } = useI18n()
  const titleId = useId()
  const points = useMemo(() => (series ? coverage(series.days, series.population) : []), [series])
  const max = niceMax(Math.max(0, ...points.map((p) => p.first)))
  const title = `${t.coverageTitle} · ${place}`
  const last = points.at(-1)
  const summary = last ? t.coverageSummary(formatDay(lang, last.date), formatPct(lang, last.first), formatPct(lang, last.full)) : t.noSeries
  const tablePoints = points.slice(-TABLE_DAYS)
  return (
    <section className="card" aria-labelledby={titleId} data-testid="coverage-chart" data-first={last?.first ?? 0} data-full={last?.full ?? 0}>
      <h2 id={titleId}>{title}</h2>
      <p className="chart-legend">
        <span className="key key-line" style={{ borderColor: FIRST }} aria-hidden="true" /> {t.metricFirst}
        <span className="key key-line key-dashed" style={{ borderColor: FULL }} aria-hidden="true" /> {t.metricFull}
      </p>
      <AxisMax label={formatPct(lang, max)} />
      <svg viewBox={`0 0 ${W} ${H}`} className="series-chart" role="img" aria-label={`${title}. ${summary}`} preserveAspectRatio="none">
        <Grid />
        {points.length > 0 && (
          <>
            <path d={linePath(points.map((p) => p.first), max)} fill="none" stroke={FIRST} strokeWidth={2.5} vectorEffect="non-scaling-stroke" />
            <path d={linePath(points.map((p) => p.full), max)} fill="none" stroke={FULL} strokeWidth={2.5} strokeDasharray="6 4" vectorEffect="non-scaling-stroke" />
          </>
        )}
      </svg>
      <AxisDays lang={lang} first={points[0]?.date} last={last?.date} />
      <p className="chart-summary">{summary}</p>
      <DataTable
        caption={points.length > TABLE_DAYS ? `${title} (${t.lastDays(TABLE_DAYS)})` : title}
        head={[t.date, t.metricFirst, t.metricFull]}
        numeric={[false, true, true]}
        rows={tablePoints.map((p) => [formatDay(lang, p.date), formatPct(lang, p.first), formatPct(lang, p.full)])}
      />
    </section>
  )
}
