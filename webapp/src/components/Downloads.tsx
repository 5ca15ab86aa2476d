import { useId } from 'react'
import { useI18n } from '../i18n-context'

const FILES = [
  { key: 'departments', csv: '/api/data/departments.csv', json: '/api/data/departments.json' },
  { key: 'daily', csv: '/api/data/daily.csv', json: '/api/data/daily.json' },
] as const

/** Downloads: the open data behind the charts, with its data dictionary. */
export function Downloads() {
  const { t } = useI18n()
  const titleId = useId()
  return (
    <section className="card downloads" aria-labelledby={titleId} data-testid="downloads" id="descargar-datos">
      <h2 id={titleId}>{t.downloadTitle}</h2>
      <p>{t.downloadIntro}</p>
      <ul>
        {FILES.map((f) => (
          <li key={f.key}>
            {f.key === 'departments' ? t.downloadDepartments : t.downloadDaily}:{' '}
            <a href={f.csv} download data-testid={`download-${f.key}-csv`}>
              CSV
            </a>{' '}
            ·{' '}
            <a href={f.json} data-testid={`download-${f.key}-json`}>
              JSON
            </a>
          </li>
        ))}
        <li>
          <a href="/api/data/dictionary.json" data-testid="download-dictionary">
            {t.downloadDictionary}
          </a>{' '}
          · <a href="/api/openapi.json">{t.apiContract}</a>
        </li>
      </ul>
    </section>
  )
}
