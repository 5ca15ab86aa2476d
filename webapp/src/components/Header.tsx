import { formatInt, formatPct, formatRate, formatTime } from '../lib/format'
import type { ConnectionState } from '../lib/live'
import { useI18n } from '../i18n-context'
import type { Snapshot } from '../types'

interface Props {
  snap: Snapshot | null
  conn: ConnectionState
  onToggleLang: () => void
}

export function Header({ snap, conn, onToggleLang }: Props) {
  const { lang, t } = useI18n()
  const live = conn.status === 'live'
  const statusText = live
    ? t.statusLive
    : conn.status === 'connecting'
      ? t.statusConnecting
      : conn.transport === 'http'
        ? t.statusPolling
        : t.statusReconnecting
  const total = snap?.total ?? 0
  const first = snap?.people_vaccinated ?? 0
  const full = snap?.fully_vaccinated ?? 0
  return (
    <header className="top">
      <div className="top-row">
        <div className="brand">
          <h1>{t.title}</h1>
          <p className="subtitle">{t.subtitle}</p>
        </div>
        <div className="top-tools">
          <span
            className={`status ${live ? 'status-live' : 'status-down'}`}
            data-testid="connection-status"
            data-status={live ? 'live' : 'reconnecting'}
            data-transport={conn.transport}
            role="status"
            aria-live="polite"
          >
            <span className="status-dot" aria-hidden="true" />
            {statusText}
          </span>
          <button
            type="button"
            className="lang"
            onClick={onToggleLang}
            lang={lang === 'es' ? 'en' : 'es'}
            aria-label={t.switchToLabel}
            data-testid="lang-switch"
          >
            {t.switchTo}
          </button>
        </div>
      </div>
      {snap?.rebuilding ? (
        <p className="rebuilding" role="status" data-testid="rebuilding">
          {t.rebuilding}
          {snap.rebuilding.expected > 0
            ? ` (${formatPct(lang, Math.min(100, (100 * snap.rebuilding.scanned) / snap.rebuilding.expected))})`
            : ''}
          {snap.rebuilding.provisional_as_of
            ? ` · ${t.rebuildingProvisional} ${formatTime(lang, snap.rebuilding.provisional_as_of)}`
            : ''}
        </p>
      ) : null}
      <dl className="totals" data-testid="header-totals">
        <div className="total-card">
          <dt>{t.totalDoses}</dt>
          <dd data-testid="total-doses" data-value={total}>
            <span className="big">{formatInt(lang, total)}</span>
          </dd>
        </div>
        <div className="total-card">
          <dt>{t.firstDose}</dt>
          <dd data-testid="people-vaccinated" data-value={first} data-pct={snap?.people_vaccinated_pct ?? 0}>
            <span className="big">{formatInt(lang, first)}</span>
            <span className="pct">
              {formatPct(lang, snap?.people_vaccinated_pct ?? 0)} {t.ofPopulation}
            </span>
          </dd>
        </div>
        <div className="total-card">
          <dt>{t.fullSeries}</dt>
          <dd data-testid="fully-vaccinated" data-value={full} data-pct={snap?.fully_vaccinated_pct ?? 0}>
            <span className="big">{formatInt(lang, full)}</span>
            <span className="pct">
              {formatPct(lang, snap?.fully_vaccinated_pct ?? 0)} {t.ofPopulation}
            </span>
          </dd>
        </div>
        <div className="total-card small">
          <dt>{t.recordsPerSecond}</dt>
          <dd data-testid="records-per-second" data-value={snap?.records_per_second ?? 0}>
            <span className="big">{formatRate(lang, snap?.records_per_second ?? 0)}</span>
          </dd>
          <dt>{t.lastUpdate}</dt>
          <dd data-testid="last-update">
            <time dateTime={snap?.updated_at ?? undefined}>{formatTime(lang, snap?.updated_at)}</time>
          </dd>
        </div>
      </dl>
    </header>
  )
}
