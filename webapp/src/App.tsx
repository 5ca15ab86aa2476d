import { useCallback, useEffect, useMemo, useState } from 'react'
import { AgeHistogram } from './components/AgeHistogram'
import { DepartmentHeader } from './components/DepartmentView'
import { DeptMap } from './components/DeptMap'
import { DoseBars } from './components/DoseBars'
import { Doughnut } from './components/Doughnut'
import { Downloads } from './components/Downloads'
import { Header } from './components/Header'
import { Latest } from './components/Latest'
import { Ranking } from './components/Ranking'
import { RolloutPanel } from './components/RolloutPanel'
import { RouteSplit } from './components/RouteSplit'
import { CoverageChart, DailyChart } from './components/SeriesCharts'
import { I18nContext } from './i18n-context'
import type { Lang } from './lib/format'
import { loadLang, saveLang, STRINGS } from './lib/i18n'
import { deptFromSearch, searchWithDept, seriesUrl } from './lib/series'
import type { DepartmentDetail, Metric, Series } from './types'
import { useFetched } from './useFetched'
import { useLive } from './useLive'

const storage = (): Storage | undefined => {
  try {
    return window.localStorage
  } catch {
    return undefined
  }
}

// The selected department lives in the URL (?d=GT-09), so that it can be
// shared and reloaded and the browser's back button returns to the country.
function useDepartmentUrl(): [string | null, (code: string) => void, () => void] {
  const [dept, setDept] = useState<string | null>(() => deptFromSearch(window.location.search))
  useEffect(() => {
    const onPop = () => setDept(deptFromSearch(window.location.search))
    window.addEventListener('popstate', onPop)
    return () => window.removeEventListener('popstate', onPop)
  }, [])
  const url = (code: string | null) => window.location.pathname + searchWithDept(window.location.search, code)
  const open = useCallback((code: string) => {
    if (deptFromSearch(window.location.search) === code) return
    const fromCountry = deptFromSearch(window.location.search) === null || Boolean((window.history.state as { fromCountry?: boolean } | null)?.fromCountry)
    window.history.pushState({ fromCountry }, '', url(code))
    setDept(code)
    window.scrollTo({ top: 0 })
  }, [])
  const close = useCallback(() => {
    if ((window.history.state as { fromCountry?: boolean } | null)?.fromCountry) {
      window.history.back() // popstate sets the country
      return
    }
    window.history.pushState(null, '', url(null)) // opened from a shared link: stay on the site
    setDept(null)
  }, [])
  return [dept, open, close]
}

export default function App() {
  const [lang, setLang] = useState<Lang>(() => loadLang(storage()))
  const [metric, setMetric] = useState<Metric>('first')
  const { snap, conn } = useLive()
  const [dept, openDept, closeDept] = useDepartmentUrl()
  const version = snap?.total ?? 0
  const series = useFetched<Series>(seriesUrl(dept), version).data
  const detail = useFetched<DepartmentDetail>(dept ? `/api/departments/${dept}` : null, version).data
  const i18n = useMemo(() => ({ lang, t: STRINGS[lang] }), [lang])
  const t = i18n.t
  const deptStats = dept ? (snap?.departments.find((d) => d.code === dept) ?? null) : null

  useEffect(() => {
    document.documentElement.lang = lang
    document.title = deptStats ? `${deptStats.name} · ${t.title}` : `${t.title} · ${t.subtitle}`
  }, [lang, t, deptStats])

  useEffect(() => {
    if (!dept) return
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') closeDept()
    }
    document.addEventListener('keydown', onKey)
    return () => document.removeEventListener('keydown', onKey)
  }, [dept, closeDept])

  const toggleLang = () => {
    const next: Lang = lang === 'es' ? 'en' : 'es'
    saveLang(storage(), next)
    setLang(next)
  }
  const place = deptStats?.name ?? detail?.name ?? t.country
  const mapAndRanking = (
    <div className="grid grid-map">
      <DeptMap departments={snap?.departments ?? []} metric={metric} onMetric={setMetric} onOpen={openDept} current={dept} />
      <Ranking departments={snap?.departments ?? []} metric={metric} onOpen={openDept} />
    </div>
  )
  const charts = (
    <div className="grid grid-2">
      <DailyChart series={series} place={place} />
      <CoverageChart series={series} place={place} />
    </div>
  )

  return (
    <I18nContext.Provider value={i18n}>
      <Header snap={snap} conn={conn} onToggleLang={toggleLang} />
      <main>
        {!snap && <p className="waiting">{t.noDataYet}</p>}
        <p className="download-link">
          <a href="#descargar-datos" data-testid="download-link">
            {t.downloadTitle}
          </a>
        </p>
        {dept ? (
          <>
            <DepartmentHeader dept={deptStats ?? detail ?? { code: dept, name: dept, population: 0, total: 0, doses: [0, 0, 0, 0], people_vaccinated: 0, fully_vaccinated: 0, people_vaccinated_pct: 0, fully_vaccinated_pct: 0 }} detail={detail} onClose={closeDept} />
            {charts}
            <div className="grid grid-3">
              <Doughnut items={detail?.vaccines ?? []} title={`${t.vaccinesTitle} · ${place}`} />
              <DoseBars items={detail?.by_dose ?? []} />
              <AgeHistogram items={detail?.age_bands ?? []} />
            </div>
            {mapAndRanking}
          </>
        ) : (
          <>
            {mapAndRanking}
            {charts}
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
          </>
        )}
        <Downloads />
      </main>
      <footer className="credits" data-testid="credits">
        {t.credits}
      </footer>
    </I18nContext.Provider>
  )
}
