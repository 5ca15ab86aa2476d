import { useId } from 'react'
import { formatInt, formatPct } from '../lib/format'
import { maxCount, OKABE_ITO, shares } from '../lib/view'
import { useI18n } from '../i18n-context'
import type { NamedCount } from '../types'
import { DataTable } from './DataTable'
import { HBars } from './HBars'

export function DoseBars({ items }: { items: NamedCount[] }) {
  const { lang, t } = useI18n()
  const titleId = useId()
  const rows = shares(items)
  const max = maxCount(items)
  return (
    <section className="card" aria-labelledby={titleId}>
      <h2 id={titleId}>{t.dosesTitle}</h2>
      <HBars
        label={t.dosesTitle}
        testId="doses"
        bars={rows.map((r) => ({
          key: r.name,
          label: t.doseN(r.name),
          value: `${formatInt(lang, r.count)} · ${formatPct(lang, r.share)}`,
          fraction: max > 0 ? r.count / max : 0,
          color: OKABE_ITO[0],
          attrs: { 'data-dose': r.name, 'data-count': r.count },
        }))}
      />
      <DataTable
        caption={t.dosesTitle}
        head={[t.dose, t.count, t.share]}
        numeric={[false, true, true]}
        rows={rows.map((r) => [t.doseN(r.name), formatInt(lang, r.count), formatPct(lang, r.share)])}
      />
    </section>
  )
}
