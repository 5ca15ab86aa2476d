import { useId } from 'react'
import { formatInt, formatTime } from '../lib/format'
import { useI18n } from '../i18n-context'
import type { LatestRecord } from '../types'

export function Latest({ records }: { records: LatestRecord[] }) {
  const { lang, t } = useI18n()
  const titleId = useId()
  return (
    <section className="card" aria-labelledby={titleId}>
      <h2 id={titleId}>{t.latestTitle}</h2>
      {records.length === 0 && <p className="hint">{t.noRecords}</p>}
      <ol className="latest" data-testid="latest-records" data-count={records.length}>
        {records.slice(0, 5).map((r) => (
          <li key={r.id || r.received_at + r.name} data-testid="latest-record" data-id={r.id} data-department={r.department_code}>
            <div className="latest-main">
              <span className="latest-name">{r.name}</span>
              <time dateTime={r.received_at}>{formatTime(lang, r.received_at)}</time>
            </div>
            <div className="latest-meta">
              <span>{r.department}</span>
              <span>
                {t.age} {formatInt(lang, r.age)}
              </span>
              <span>{r.vaccine}</span>
              <span>
                {t.dose} {r.dose}
              </span>
              {r.route && (
                <span className="route-tag" data-route={r.route}>
                  {t.route} {r.route}
                </span>
              )}
            </div>
          </li>
        ))}
      </ol>
    </section>
  )
}
