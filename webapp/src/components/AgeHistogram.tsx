import { useId } from 'react'
import { formatInt, formatPct } from '../lib/format'
import { maxCount, OKABE_ITO, shares } from '../lib/view'
import { useI18n } from '../i18n-context'
import type { NamedCount } from '../types'
import { DataTable } from './DataTable'

const W = 360
const H = 190
const TOP = 18
const BOTTOM = 22

export function AgeHistogram({ items }: { items: NamedCount[] }) {
  const { lang, t } = useI18n()
  const titleId = useId()
  const rows = shares(items)
  const max = maxCount(items)
  const n = Math.max(1, rows.length)
  const slot = W / n
  const barW = slot * 0.94 // a histogram: bars nearly touch
  const plotH = H - TOP - BOTTOM
  const summary = rows.map((r) => `${r.name}: ${formatInt(lang, r.count)}`).join(', ')
  return (
    <section className="card" aria-labelledby={titleId} data-testid="ages">
      <h2 id={titleId}>{t.agesTitle}</h2>
      <svg viewBox={`0 0 ${W} ${H}`} className="histogram" role="img" aria-label={`${t.agesTitle} (${t.years}): ${summary}`}>
        <line x1="0" x2={W} y1={H - BOTTOM + 0.5} y2={H - BOTTOM + 0.5} stroke="#767676" />
        {rows.map((r, i) => {
          const h = max > 0 ? (r.count / max) * plotH : 0
          const x = i * slot + (slot - barW) / 2
          const y = H - BOTTOM - h
          return (
            <g key={r.name}>
              <rect x={x} y={y} width={barW} height={h} fill={OKABE_ITO[2]} data-band={r.name} data-count={r.count} />
              <text x={x + barW / 2} y={y - 4} textAnchor="middle" className="bar-value">
                {formatInt(lang, r.count)}
              </text>
              <text x={x + barW / 2} y={H - 6} textAnchor="middle" className="bar-label">
                {r.name}
              </text>
            </g>
          )
        })}
      </svg>
      <DataTable
        caption={`${t.agesTitle} (${t.years})`}
        head={[t.ageBand, t.count, t.share]}
        numeric={[false, true, true]}
        rows={rows.map((r) => [r.name, formatInt(lang, r.count), formatPct(lang, r.share)])}
      />
    </section>
  )
}
