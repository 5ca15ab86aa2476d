import { useEffect, useMemo, useState } from 'react'
import { AgeHistogram } from './components/AgeHistogram'
import { DeptMap } from './components/DeptMap'
import { DoseBars } from './components/DoseBars'
import { Doughnut } from './components/Doughnut'
import { Header } from './components/Header'
import { Latest } from './components/Latest'
import { Ranking } from './components/Ranking'
import { RolloutPanel } from './components/RolloutPanel'
import { RouteSplit } from './components/RouteSplit'
import { I18nContext } from './i18n-context'
import type { Lang } from './lib/format'
import { loadLang, saveLang, STRINGS } from './lib/i18n'
import type { Metric } from './types'
import { useLive } from './useLive'

const storage = (): Storage | undefined => {
  try {
    return window.localStorage
  } catch {
    return undefined
  }
}

export default function App() {
  const [lang, setLang] = useState<Lang>(() => loadLang(storage()))
  const [metric, setMetric] = useState<Metric>('first')
  const { snap, conn } = useLive()
  const i18n = useMemo(() => ({ lang, t: STRINGS[lang] }), [lang])
  const t = i18n.t

  useEffect(() => {
    document.documentElement.lang = lang
    document.title = `${t.title} · ${t.subtitle}`
  }, [lang, t])

  const toggleLang = () => {
    const next: Lang = lang === 'es' ? 'en' : 'es'
    saveLang(storage(), next)
    setLang(next)
  }

  return (
    <I18nContext.Provider value={i18n}>
      <Header snap={snap} conn={conn} onToggleLang={toggleLang} />
      <main>
        {!snap && <p className="waiting">{t.noDataYet}</p>}
        <div className="grid grid-map">
          <DeptMap departments={snap?.departments ?? []} metric={metric} onMetric={setMetric} />
          <Ranking departments={snap?.departments ?? []} metric={metric} />
        </div>
        <div className="grid grid-3">
          <Doughnut items={snap?.vaccines ?? []} title={t.vaccinesTitle} />
          <DoseBars items={snap?.doses ?? []} />
          <AgeHistogram items={snap?.age_bands ?? []} />
        </div>
        <div className="grid grid-2">
          <Latest records={snap?.latest ?? []} />
          <RouteSplit routes={snap?.routes ?? []} />
        </div>
        <RolloutPanel rollout={snap?.rollout ?? null} />
      </main>
      <footer className="credits" data-testid="credits">
        {t.credits}
      </footer>
    </I18nContext.Provider>
  )
}
