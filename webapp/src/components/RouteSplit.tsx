import { useId } from 'react'
import { formatInt, formatPct } from '../lib/format'
import { OKABE_ITO, routeSplit } from '../lib/view'
import { useI18n } from '../i18n-context'
import type { RouteStats } from '../types'
import { DataTable } from './DataTable'

export function RouteSplit({ routes }: { routes: RouteStats[] }) {
  const { lang, t } = useI18n()
  const titleId = useId()
  const rows = routeSplit(routes)
  const totalCount = rows.reduce((s, r) => s + r.count, 0)
  return (
    <section className="card" aria-labelledby={titleId}>
      <h2 id={titleId}>{t.routeTitle}</h2>
      <p className="hint">{t.routeHint}</p>
      <div className="route-legend" aria-hidden="true">
        <span>
          <span className="swatch hatched" /> {t.configured}
        </span>
        <span>
          <span className="swatch solid" /> {t.observed}
        </span>
      </div>
      <ul className="routes" data-testid="route-split" data-total={totalCount}>
        {rows.map((r, i) => {
          const color = OKABE_ITO[i % OKABE_ITO.length]
          return (
            <li
              key={r.name}
              data-testid={`route-${r.name}`}
              data-weight={r.weight}
              data-configured={r.configured}
              data-count={r.count}
              data-observed={r.observed}
            >
              <div className="route-name">
                <strong>{r.name}</strong>
                <span>
                  {formatInt(lang, r.count)} {t.records(r.count)}
                </span>
              </div>
              <div className="route-bar">
                <span className="route-kind">{t.configured}</span>
                <span className="hbar-track" aria-hidden="true">
                  <span className="hbar-fill hatched" style={{ width: `${r.configured}%`, borderColor: color, color }} />
                </span>
                <span className="hbar-value">{formatPct(lang, r.configured)}</span>
              </div>
              <div className="route-bar">
                <span className="route-kind">{t.observed}</span>
                <span className="hbar-track" aria-hidden="true">
                  <span className="hbar-fill" style={{ width: `${r.observed}%`, background: color }} />
                </span>
                <span className="hbar-value">{formatPct(lang, r.observed)}</span>
              </div>
            </li>
          )
        })}
      </ul>
      <DataTable
        caption={t.routeTitle}
        head={[t.route, t.weight, t.configured, t.count, t.observed]}
        numeric={[false, true, true, true, true]}
        rows={rows.map((r) => [
          r.name,
          formatInt(lang, r.weight),
          formatPct(lang, r.configured),
          formatInt(lang, r.count),
          formatPct(lang, r.observed),
        ])}
      />
    </section>
  )
}
