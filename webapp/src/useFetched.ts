import { useEffect, useRef, useState } from 'react'

/**
 * useFetched GETs url as JSON, again whenever version changes (the live
 * snapshot's total: a change notice), at most once per minGapMs so that a
 * busy stream does not turn into a request per frame; a new url fetches at
 * once. It keeps the last good answer while a refresh is in flight.
 */
export function useFetched<T>(url: string | null, version: number, minGapMs = 2000): { data: T | null; error: boolean } {
  const [state, setState] = useState<{ url: string | null; data: T | null; error: boolean }>({ url: null, data: null, error: false })
  const last = useRef<{ url: string | null; at: number }>({ url: null, at: 0 })
  useEffect(() => {
    if (!url) return
    let cancelled = false
    const ctrl = new AbortController()
    const run = () => {
      last.current = { url, at: Date.now() }
      fetch(url, { headers: { Accept: 'application/json' }, signal: ctrl.signal })
        .then((r) => {
          if (!r.ok) throw new Error(`GET ${url}: ${r.status}`)
          return r.json() as Promise<T>
        })
        .then((data) => {
          if (!cancelled) setState({ url, data, error: false })
        })
        .catch(() => {
          if (!cancelled) setState((s) => ({ ...s, error: true }))
        })
    }
    const wait = last.current.url === url ? Math.max(0, last.current.at + minGapMs - Date.now()) : 0
    const id = window.setTimeout(run, wait)
    return () => {
      cancelled = true
      window.clearTimeout(id)
      ctrl.abort()
    }
  }, [url, version, minGapMs])
  return { data: state.url === url ? state.data : null, error: state.error }
}
