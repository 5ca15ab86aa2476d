import { createContext, useContext } from 'react'
import type { Lang } from './lib/format'
import { STRINGS, type Strings } from './lib/i18n'

export interface I18n {
  lang: Lang
  t: Strings
}

export const I18nContext = createContext<I18n>({ lang: 'es', t: STRINGS.es })

export function useI18n(): I18n {
  return useContext(I18nContext)
}
