import { useEffect, useId, useRef } from 'react'
import { formatInt, formatPct } from '../lib/format'
import { useI18n } from '../i18n-context'
import type { DepartmentDetail, DepartmentStats } from '../types'

/**
 * DepartmentHeader heads a department's own view: its name and figures, and
 * the control back to the country (Escape does the same; so does the
 * browser's back button, which App handles through the URL).
 */
export function DepartmentHeader({ dept, detail, onClose }: { dept: DepartmentStats | DepartmentDetail; detail: DepartmentDetail | null; onClose: () => void }) {
  const { lang, t } = useI18n()
  const titleId = useId()
  const headRef = useRef<HTMLHeadingElement>(null)
  useEffect(() => {
    headRef.current?.focus()
  }, [dept.code])
  const d = detail ?? dept
  return (
    <section className="card dept-view" aria-labelledby={titleId} data-testid="dept-view" data-code={dept.code}>
      <div className="card-head">
        <h2 id={titleId} ref={headRef} tabIndex={-1}>
          {d.name}
        </h2>
        <button type="button" className="back" onClick={onClose} data-testid="dept-back">
          <span aria-hidden="true">← </span>
          {t.backToCountry}
        </button>
      </div>
      <dl className="dept-figures" data-testid="dept-figures" data-total={d.total}>
        <div>
          <dt>{t.population}</dt>
          <dd>{formatInt(lang, d.population)}</dd>
        </div>
        <div>
          <dt>{t.totalDoses}</dt>
          <dd>{formatInt(lang, d.total)}</dd>
        </div>
        <div>
          <dt>{t.firstDose}</dt>
          <dd>
            {formatInt(lang, d.people_vaccinated)} ({formatPct(lang, d.people_vaccinated_pct)})
          </dd>
        </div>
        <div>
          <dt>{t.fullSeries}</dt>
          <dd>
            {formatInt(lang, d.fully_vaccinated)} ({formatPct(lang, d.fully_vaccinated_pct)})
          </dd>
        </div>
      </dl>
      <p className="hint">{t.escHint}</p>
    </section>
  )
}
