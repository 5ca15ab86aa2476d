import { useId } from 'react'
import { formatInt, formatPct } from '../lib/format'
import { OKABE_ITO, shares } from '../lib/view'
import { useI18n } from '../i18n-context'
import type { NamedCount } from '../types'
import { DataTable } from './DataTable'

// A doughnut drawn as stroked circles: each slice is a dash of the ring's
// circumference (pathLength=100, so dash lengths are the shares).
export function Doughnut({ items, title }: { items: NamedCount[]; title: string }) {
  const { lang, t } = useI18n()
  const titleId = useId()
  const rows = shares(items)
  const total = items.reduce((s, i) => s + i.count, 0)
  // where each slice starts, in percent of the ring
  const starts = rows.map((_, i) => rows.slice(0, i).reduce((s, r) => s + r.share, 0))
  const summary = rows.map((r) => `${r.name} ${formatPct(lang, r.share)}`).join(', ')
  return (
    <section className="card" aria-labelledby={titleId} data-testid="vaccines">
      <h2 id={titleId}>{title}</h2>
      <div className="doughnut-body">
        <svg viewBox="0 0 120 120" className="doughnut" role="img" aria-label={`${title}: ${summary}`}>
          <circle cx="60" cy="60" r="44" fill="none" stroke="#e4e4e4" strokeWidth="22" />
          {rows.map((r, i) => {
            if (r.share <= 0) return null
            return (
              <circle
                key={r.name}
                cx="60"
                cy="60"
                r="44"
                fill="none"
                stroke={OKABE_ITO[i % OKABE_ITO.length]}
                strokeWidth="22"
                pathLength={100}
                strokeDasharray={`${r.share} ${100 - r.share}`}
                strokeDashoffset={-starts[i]}
                transform="rotate(-90 60 60)"
              />
            )
          })}
          <text x="60" y="58" textAnchor="middle" className="doughnut-total">
            {formatInt(lang, total)}
          </text>
          <text x="60" y="72" textAnchor="middle" className="doughnut-sub">
            {t.doses.toLowerCase()}
          </text>
        </svg>
        <ul className="legend-list">
          {rows.map((r, i) => (
            <li key={r.name}>
              <span className="swatch" style={{ background: OKABE_ITO[i % OKABE_ITO.length] }} aria-hidden="true" />
              <span className="legend-name">{r.name}</span>
              <span className="legend-val">
                {formatInt(lang, r.count)} · {formatPct(lang, r.share)}
              </span>
            </li>
          ))}
        </ul>
      </div>
      <DataTable
        caption={title}
        head={[t.vaccine, t.count, t.share]}
        numeric={[false, true, true]}
        rows={rows.map((r) => [r.name, formatInt(lang, r.count), formatPct(lang, r.share)])}
      />
    </section>
  )
}
