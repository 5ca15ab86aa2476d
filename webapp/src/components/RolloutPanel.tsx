import { useId } from 'react'
import { formatMs, formatPct, formatSuccess, formatTime } from '../lib/format'
import { rolloutView, type StepState } from '../lib/rollout'
import { useI18n } from '../i18n-context'
import type { CheckVerdict, Rollout, RolloutVerdict } from '../types'

// RolloutPanel shows the last progressive rollout (`vacunometro rollout`):
// the target route, its steps with the current one highlighted, the split
// now, every check and the verdict with its reason. Verdicts are told apart
// by shape, icon and word, not by colour alone (see index.css, .badge-*).
// The reasons come from the server as written (English).

type Kind = CheckVerdict | RolloutVerdict | StepState

/** Icon draws a small shape per verdict: circle+tick, square+cross, triangle+?, ... */
function Icon({ kind }: { kind: Kind }) {
  const common = { width: 16, height: 16, viewBox: '0 0 16 16', 'aria-hidden': true, focusable: false, className: 'icon' } as const
  switch (kind) {
    case 'pass':
    case 'promoted':
    case 'done':
      return (
        <svg {...common}>
          <circle cx="8" cy="8" r="7" fill="currentColor" />
          <path d="M4.5 8.3l2.3 2.3 4.7-5" fill="none" stroke="#fff" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" />
        </svg>
      )
    case 'fail':
    case 'failed':
      return (
        <svg {...common}>
          <rect x="1" y="1" width="14" height="14" rx="2" fill="currentColor" />
          <path d="M5 5l6 6M11 5l-6 6" stroke="#fff" strokeWidth="2" strokeLinecap="round" />
        </svg>
      )
    case 'rolled_back':
      return (
        <svg {...common}>
          <rect x="1" y="1" width="14" height="14" rx="2" fill="currentColor" />
          <path d="M6 4.5L3.5 7 6 9.5" fill="none" stroke="#fff" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" />
          <path d="M4 7h5a2.6 2.6 0 010 5.2H7" fill="none" stroke="#fff" strokeWidth="1.8" strokeLinecap="round" />
        </svg>
      )
    case 'inconclusive':
      return (
        <svg {...common}>
          <path d="M8 1.2L15 14.5H1z" fill="currentColor" stroke="currentColor" strokeWidth="1" strokeLinejoin="round" />
          <path d="M8 6v4" stroke="#fff" strokeWidth="1.8" strokeLinecap="round" />
          <circle cx="8" cy="12.2" r="1" fill="#fff" />
        </svg>
      )
    case 'interrupted':
    case 'stopped':
      return (
        <svg {...common}>
          <path d="M5 1h6l4 4v6l-4 4H5l-4-4V5z" fill="currentColor" />
          <path d="M6.3 5v6M9.7 5v6" stroke="#fff" strokeWidth="1.8" strokeLinecap="round" />
        </svg>
      )
    case 'running':
    case 'current':
      return (
        <svg {...common}>
          <circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" strokeWidth="2" />
          <path d="M6.5 5v6l4.5-3z" fill="currentColor" />
        </svg>
      )
    case 'pending':
      return (
        <svg {...common}>
          <circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" strokeWidth="1.5" strokeDasharray="2.5 2" />
        </svg>
      )
    default:
      return (
        <svg {...common}>
          <circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" strokeWidth="1.5" />
          <circle cx="8" cy="8" r="2" fill="currentColor" />
        </svg>
      )
  }
}

export function CheckBadge({ verdict, raw }: { verdict: CheckVerdict; raw: string }) {
  const { t } = useI18n()
  const label = verdict === 'unknown' && raw ? raw : t.checkVerdicts[verdict]
  return (
    <span className={`badge badge-${verdict}`}>
      <Icon kind={verdict} />
      <span>{label}</span>
    </span>
  )
}

/** RolloutPanel renders nothing when no rollout ran (rollout null). */
export function RolloutPanel({ rollout }: { rollout: Rollout | null }) {
  return rollout ? <Panel r={rollout} /> : null
}

function Panel({ r }: { r: Rollout }) {
  const { lang, t } = useI18n()
  const titleId = useId()
  const view = rolloutView(r)
  const verdictLabel = r.verdict === 'unknown' && r.verdict_raw ? r.verdict_raw : t.rolloutVerdicts[r.verdict]
  const totalWeight = r.weights.reduce((s, [, w]) => s + Math.max(0, w), 0)
  const share = (w: number) => (totalWeight > 0 ? (Math.max(0, w) / totalWeight) * 100 : 0)
  const n = r.steps.length
  return (
    <section className="card rollout" aria-labelledby={titleId} data-testid="rollout-panel" data-route={r.route}>
      <div className="card-head">
        <h2 id={titleId}>{t.rolloutTitle}</h2>
        {r.updated_at && (
          <span className="hint rollout-updated">
            {t.rolloutUpdated} <time dateTime={r.updated_at}>{formatTime(lang, r.updated_at)}</time>
          </span>
        )}
      </div>

      <div className={`rollout-verdict verdict-${r.verdict}`} data-testid="rollout-verdict" data-verdict={r.verdict} role="status">
        <Icon kind={r.verdict} />
        <div>
          <div className="verdict-line">
            <span className="verdict-label">{t.rolloutVerdictLabel}:</span> <strong>{verdictLabel}</strong>
          </div>
          {r.reason && (
            <p className="verdict-reason" data-testid="rollout-reason">
              {r.reason}
            </p>
          )}
        </div>
      </div>

      <dl className="rollout-facts">
        <div>
          <dt>{t.rolloutRoute}</dt>
          <dd data-testid="rollout-route">
            <strong>{r.route || '—'}</strong>
          </dd>
        </div>
        {view.share !== null && (
          <div>
            <dt>{t.rolloutShareNow(r.route || '—')}</dt>
            <dd data-testid="rollout-share" data-value={view.share}>
              {formatPct(lang, view.share)}
            </dd>
          </div>
        )}
        {r.failed_checks !== null && r.max_failures !== null && r.max_failures > 0 && (
          <div>
            <dt>{t.rolloutBudget}</dt>
            <dd data-testid="rollout-budget">{t.rolloutBudgetOf(r.failed_checks, r.max_failures)}</dd>
          </div>
        )}
        {r.backend && (
          <div>
            <dt>{t.rolloutBackend}</dt>
            <dd className="rollout-backend">{r.backend}</dd>
          </div>
        )}
      </dl>

      {n > 0 && (
        <>
          <h3>{t.rolloutSteps}</h3>
          <ol className="rollout-steps" data-testid="rollout-steps" data-current={view.highlighted >= 0 ? r.steps[view.highlighted] : ''}>
            {view.steps.map((s, i) => (
              <li
                key={i}
                className={`step step-${s.state}${i === view.highlighted ? ' step-here' : ''}`}
                data-testid={`rollout-step-${s.percent}`}
                data-state={s.state}
                aria-current={i === view.highlighted ? 'step' : undefined}
                title={`${t.rolloutStepOf(i + 1, n)}: ${t.rolloutStepState[s.state]}`}
              >
                <Icon kind={s.state} />
                <span className="step-pct">{formatPct(lang, s.percent)}</span>
                <span className="sr-only">
                  {' '}
                  ({t.rolloutStepOf(i + 1, n)}: {t.rolloutStepState[s.state]})
                </span>
              </li>
            ))}
          </ol>
        </>
      )}

      {r.weights.length > 0 && (
        <>
          <h3>{t.rolloutWeights}</h3>
          <ul className="rollout-weights" data-testid="rollout-weights">
            {r.weights.map(([name, w]) => (
              <li key={name} data-testid={`rollout-weight-${name}`} data-weight={w} className={name === r.route ? 'target' : undefined}>
                <span className="hbar-label">
                  {name === r.route ? <strong>{name}</strong> : name}
                  {name === r.route && <span className="target-tag"> ({t.rolloutTarget})</span>}
                </span>
                <span className="hbar-track" aria-hidden="true">
                  <span className={`hbar-fill${name === r.route ? '' : ' hatched'}`} style={{ width: `${share(w)}%` }} />
                </span>
                <span className="hbar-value">{formatPct(lang, share(w))}</span>
              </li>
            ))}
          </ul>
          {r.from.length > 0 && (
            <p className="hint rollout-from">
              {t.rolloutFrom}: {r.from.map(([name, w]) => `${name} ${formatPct(lang, w)}`).join(' · ')}
            </p>
          )}
        </>
      )}

      <h3>{t.rolloutChecks}</h3>
      {r.checks.length === 0 ? (
        <p className="hint">{t.rolloutNoChecks}</p>
      ) : (
        <table className="rollout-checks" data-testid="rollout-checks" data-count={r.checks.length}>
          <thead>
            <tr>
              <th scope="col" className="num">
                {t.checkStep}
              </th>
              <th scope="col" className="num">
                {t.checkSuccess}
              </th>
              <th scope="col" className="num">
                {t.checkP99}
              </th>
              <th scope="col" className="num">
                {t.checkLag}
              </th>
              <th scope="col">{t.checkVerdict}</th>
              <th scope="col">{t.checkReason}</th>
            </tr>
          </thead>
          <tbody>
            {r.checks.map((c, i) => (
              <tr key={i} data-testid={`rollout-check-${c.step}`} data-index={i + 1} data-verdict={c.verdict}>
                <th scope="row" className="num" data-label={t.checkStep}>
                  {formatPct(lang, c.step)}
                </th>
                <td className="num" data-label={t.checkSuccess}>
                  {formatSuccess(lang, c.success_pct)}
                </td>
                <td className="num" data-label={t.checkP99}>
                  {formatMs(lang, c.p99_ms)}
                </td>
                <td className="num" data-label={t.checkLag}>
                  {formatMs(lang, c.lag_p99_ms)}
                </td>
                <td className="verdict" data-label={t.checkVerdict}>
                  <CheckBadge verdict={c.verdict} raw={c.verdict_raw} />
                </td>
                <td className="reason" data-label={t.checkReason}>
                  {c.reason || '—'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}
