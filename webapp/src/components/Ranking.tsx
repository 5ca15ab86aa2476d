import { useId, useMemo } from 'react'
import { formatInt, formatPct } from '../lib/format'
import { colorScale, deptValue, rankDepartments } from '../lib/view'
import { useI18n } from '../i18n-context'
import type { DepartmentStats, Metric } from '../types'
import { DataTable } from './DataTable'
import { HBars } from './HBars'

export function Ranking({ departments, metric, onOpen }: { departments: DepartmentStats[]; metric: Metric; onOpen?: (code: string) => void }) {
  const { lang, t } = useI18n()
  const titleId = useId()
  const rows = useMemo(() => rankDepartments(departments, metric), [departments, metric])
  const scale = useMemo(() => colorScale(departments.map((d) => deptValue(d, metric))), [departments, metric])
  const metricLabel = metric === 'first' ? t.metricFirst : t.metricFull
  const title = `${t.rankingTitle} · ${metricLabel}`
  return (
    <section className="card" aria-labelledby={titleId}>
      <h2 id={titleId}>{title}</h2>
      <HBars
        label={title}
        testId="ranking"
        bars={rows.map((r) => ({
          key: r.code,
          label: (
            <>
              <span className="rank">{r.rank}</span>{' '}
              {onOpen ? (
                <button type="button" className="linklike" onClick={() => onOpen(r.code)} data-testid={`open-${r.code}`} aria-label={t.openDept(r.name)}>
                  {r.name}
                </button>
              ) : (
                r.name
              )}
            </>
          ),
          value: formatPct(lang, r.value),
          fraction: r.value / scale.max,
          color: scale.colorOf(r.value),
          attrs: { 'data-code': r.code, 'data-value': r.value },
        }))}
      />
      <DataTable
        caption={title}
        head={[t.department, t.rank, t.people, t.population, t.coverage]}
        numeric={[false, true, true, true, true]}
        rows={rows.map((r) => [
          r.name,
          r.rank,
          formatInt(lang, r.count),
          formatInt(lang, r.population),
          formatPct(lang, r.value),
        ])}
      />
    </section>
  )
}
