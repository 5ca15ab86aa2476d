import type { Lang } from './format'

// All user-visible text, in Spanish (the default) and English. Department,
// vaccine and person names are proper nouns and are not translated.

const es = {
  title: 'Vacunómetro Guatemala',
  subtitle: 'Vacunación contra la COVID-19 en tiempo real',
  language: 'Idioma',
  switchTo: 'English',
  switchToLabel: 'Switch to English',
  totalDoses: 'Dosis aplicadas',
  firstDose: 'Con primera dosis',
  fullSeries: 'Con esquema completo',
  ofPopulation: 'de la población',
  recordsPerSecond: 'registros/s',
  lastUpdate: 'Última actualización',
  statusLive: 'En vivo',
  statusReconnecting: 'Reconectando…',
  statusPolling: 'Reconectando… (datos por consulta periódica)',
  statusConnecting: 'Conectando…',
  mapTitle: 'Cobertura por departamento',
  mapMetric: 'Indicador',
  metricFirst: 'Primera dosis',
  metricFull: 'Esquema completo',
  legend: 'Leyenda',
  noData: 'Sin registros',
  mapHint: 'Pase el cursor, toque o enfoque un departamento para ver sus cifras.',
  population: 'Población (censo 2018)',
  populationShort: 'Población',
  doses: 'Dosis',
  dose: 'Dosis',
  rankingTitle: 'Departamentos ordenados por cobertura',
  showData: 'Ver los datos en tabla',
  department: 'Departamento',
  people: 'Personas',
  coverage: 'Cobertura',
  rank: 'Puesto',
  vaccinesTitle: 'Dosis por vacuna',
  vaccine: 'Vacuna',
  count: 'Cantidad',
  share: 'Proporción',
  dosesTitle: 'Registros por número de dosis',
  doseN: (n: string) => (n === '3' || n === '4' ? `Dosis ${n} (refuerzo)` : `Dosis ${n}`),
  agesTitle: 'Registros por grupo de edad',
  ageBand: 'Edad',
  years: 'años',
  latestTitle: 'Últimos registros',
  noRecords: 'Aún no hay registros.',
  age: 'Edad',
  route: 'Ruta',
  received: 'Recibido',
  routeTitle: 'Reparto entre rutas',
  routeHint: 'Peso configurado frente a la proporción observada de registros.',
  configured: 'Configurado',
  observed: 'Observado',
  weight: 'Peso',
  records: (n: number): string => (n === 1 ? 'registro' : 'registros'),
  total: 'Total',
  noDataYet: 'Esperando datos del servidor…',
  credits: 'Mapa: Made with Natural Earth (dominio público). Población: INE Guatemala, Censo 2018.',
  chartOf: (title: string) => `Gráfico: ${title}`,
}

export type Strings = typeof es

const en: Strings = {
  title: 'Vacunómetro Guatemala',
  subtitle: 'COVID-19 vaccination, live',
  language: 'Language',
  switchTo: 'Español',
  switchToLabel: 'Cambiar a español',
  totalDoses: 'Doses given',
  firstDose: 'With a first dose',
  fullSeries: 'With the full series',
  ofPopulation: 'of the population',
  recordsPerSecond: 'records/s',
  lastUpdate: 'Last update',
  statusLive: 'Live',
  statusReconnecting: 'Reconnecting…',
  statusPolling: 'Reconnecting… (data by polling)',
  statusConnecting: 'Connecting…',
  mapTitle: 'Coverage by department',
  mapMetric: 'Measure',
  metricFirst: 'First dose',
  metricFull: 'Full series',
  legend: 'Legend',
  noData: 'No records',
  mapHint: 'Hover, tap or focus a department to see its figures.',
  population: 'Population (2018 census)',
  populationShort: 'Population',
  doses: 'Doses',
  dose: 'Dose',
  rankingTitle: 'Departments ranked by coverage',
  showData: 'Show the data as a table',
  department: 'Department',
  people: 'People',
  coverage: 'Coverage',
  rank: 'Rank',
  vaccinesTitle: 'Doses by vaccine',
  vaccine: 'Vaccine',
  count: 'Count',
  share: 'Share',
  dosesTitle: 'Records by dose number',
  doseN: (n: string) => (n === '3' || n === '4' ? `Dose ${n} (booster)` : `Dose ${n}`),
  agesTitle: 'Records by age band',
  ageBand: 'Age',
  years: 'years',
  latestTitle: 'Latest records',
  noRecords: 'No records yet.',
  age: 'Age',
  route: 'Route',
  received: 'Received',
  routeTitle: 'Split between routes',
  routeHint: 'Configured weight against the observed share of records.',
  configured: 'Configured',
  observed: 'Observed',
  weight: 'Weight',
  records: (n: number) => (n === 1 ? 'record' : 'records'),
  total: 'Total',
  noDataYet: 'Waiting for data from the server…',
  credits: 'Map: Made with Natural Earth (public domain). Population: INE Guatemala, Censo 2018.',
  chartOf: (title: string) => `Chart: ${title}`,
}

export const STRINGS: Record<Lang, Strings> = { es, en }

export const LANG_KEY = 'vacunometro.lang'

/** loadLang reads the remembered language; Spanish unless English was chosen. */
export function loadLang(storage: Pick<Storage, 'getItem'> | undefined): Lang {
  try {
    return storage?.getItem(LANG_KEY) === 'en' ? 'en' : 'es'
  } catch {
    return 'es'
  }
}

/** saveLang remembers the language (ignores storage that refuses). */
export function saveLang(storage: Pick<Storage, 'setItem'> | undefined, lang: Lang): void {
  try {
    storage?.setItem(LANG_KEY, lang)
  } catch {
    /* private mode or storage disabled: the choice lasts for this page only */
  }
}
