import { useId, useMemo, useState, type KeyboardEvent } from 'react'
import { formatInt, formatPct } from '../lib/format'
import { GUATEMALA } from '../lib/mapdata'
import { colorScale, deptCount, deptValue, NO_DATA } from '../lib/view'
import { useI18n } from '../i18n-context'
import type { DepartmentStats, Metric } from '../types'

interface Props {
  departments: DepartmentStats[]
  metric: Metric
  onMetric: (m: Metric) => void
  onOpen?: (code: string) => void // show the department's own view
  current?: string | null // the department whose view is shown
}

const EMPTY: DepartmentStats = {
  code: '',
  name: '',
  population: 0,
  total: 0,
  doses: [0, 0, 0, 0],
  people_vaccinated: 0,
  fully_vaccinated: 0,
  people_vaccinated_pct: 0,
  fully_vaccinated_pct: 0,
}

export function DeptMap({ departments, metric, onMetric, onOpen, current = null }: Props) {
  const { lang, t } = useI18n()
  const titleId = useId()
  const [hover, setHover] = useState<string | null>(null)
  const [selected, setSelected] = useState<string | null>(null)
  const byCode = useMemo(() => new Map(departments.map((d) => [d.code, d])), [departments])
  const scale = useMemo(() => colorScale(departments.map((d) => deptValue(d, metric))), [departments, metric])
  const active = hover ?? selected
  const activeShape = GUATEMALA.shapes.find((s) => s.code === active)
  const activeDept = active ? (byCode.get(active) ?? { ...EMPTY, code: active, name: activeShape?.name ?? active }) : null
  const metricLabel = metric === 'first' ? t.metricFirst : t.metricFull

  const onKey = (code: string) => (e: KeyboardEvent) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault()
      setSelected(code)
      onOpen?.(code)
    } else if (e.key === 'Escape') {
      setSelected(null)
    }
  }

  return (
    <section className="card map-card" aria-labelledby={titleId}>
      <div className="card-head">
        <h2 id={titleId}>{t.mapTitle}</h2>
        <div className="segmented" role="radiogroup" aria-label={t.mapMetric} data-testid="metric-toggle">
          {(['first', 'full'] as const).map((m) => (
            <button
              key={m}
              type="button"
              role="radio"
              aria-checked={metric === m}
              className={metric === m ? 'on' : undefined}
              onClick={() => onMetric(m)}
              data-testid={`metric-${m}`}
            >
              {m === 'first' ? t.metricFirst : t.metricFull}
            </button>
          ))}
        </div>
      </div>
      <div className="map-body">
        <svg
          className="map"
          viewBox={`0 0 ${GUATEMALA.width} ${GUATEMALA.height}`}
          role="group"
          aria-label={`${t.mapTitle}: ${metricLabel}`}
          data-testid="map"
          data-metric={metric}
        >
          {GUATEMALA.shapes.map((s) => {
            const d = byCode.get(s.code)
            const value = d ? deptValue(d, metric) : 0
            const fill = scale.colorOf(value)
            const label = `${d?.name ?? s.name}: ${formatPct(lang, value)} ${metricLabel.toLowerCase()}, ${formatInt(lang, d ? deptCount(d, metric) : 0)} ${t.people.toLowerCase()}`
            return (
              <path
                key={s.code}
                d={s.d}
                fill={fill}
                className={s.code === active || s.code === current ? 'dept active' : 'dept'}
                data-testid={`dept-${s.code}`}
                data-value={value}
                data-fill={fill}
                data-bucket={scale.bucketOf(value)}
                tabIndex={0}
                role="button"
                aria-pressed={current === s.code}
                aria-label={label}
                onMouseEnter={() => setHover(s.code)}
                onMouseLeave={() => setHover(null)}
                onFocus={() => setSelected(s.code)}
                onClick={() => {
                  setSelected(s.code)
                  onOpen?.(s.code)
                }}
                onKeyDown={onKey(s.code)}
              >
                <title>{label}</title>
              </path>
            )
          })}
          {activeShape && <path className="dept-outline" d={activeShape.d} aria-hidden="true" />}
        </svg>
        <div className="map-side">
          <div className="legend" aria-label={`${t.legend}: ${metricLabel}`} role="list" data-testid="map-legend">
            <div className="legend-title">
              {t.legend} · {metricLabel}
            </div>
            <div className="legend-row" role="listitem">
              <span className="swatch" style={{ background: NO_DATA }} aria-hidden="true" />
              {t.noData}
            </div>
            {scale.buckets.map((b) => (
              <div className="legend-row" role="listitem" key={b.index}>
                <span className="swatch" style={{ background: b.color }} aria-hidden="true" />
                {b.index === 0 ? '> 0' : formatPct(lang, b.from)} – {formatPct(lang, b.to)}
              </div>
            ))}
          </div>
          <div className="dept-info" aria-live="polite" data-testid="dept-info">
            {activeDept ? (
              <>
                <h3>{activeDept.name}</h3>
                <dl>
                  <dt>{t.populationShort}</dt>
                  <dd>{formatInt(lang, activeDept.population)}</dd>
                  <dt>{t.metricFirst}</dt>
                  <dd>
                    {formatInt(lang, activeDept.people_vaccinated)} ({formatPct(lang, activeDept.people_vaccinated_pct)})
                  </dd>
                  <dt>{t.metricFull}</dt>
                  <dd>
                    {formatInt(lang, activeDept.fully_vaccinated)} ({formatPct(lang, activeDept.fully_vaccinated_pct)})
                  </dd>
                  <dt>{t.totalDoses}</dt>
                  <dd>{formatInt(lang, activeDept.total)}</dd>
                  <dt>{t.doses} 1-4</dt>
                  <dd>{activeDept.doses.map((n) => formatInt(lang, n)).join(' · ')}</dd>
                </dl>
              </>
            ) : (
              <p className="hint">{t.mapHint}</p>
            )}
          </div>
        </div>
      </div>
    </section>
  )
}
