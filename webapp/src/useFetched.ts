import { useEffect, useRef, useState } from 'react'

/**
 * useFetched GETs url as JSON, again whenever version changes (the live
 * snapshot's total: a change notice), at most once per minGapMs so that a
 * busy stream does not turn into a request per frame; a new url fetches at
 * once. A request in flight is never aborted by a newer frame (under load
 * frames come faster than a large answer), only answers for another url
 * are dropped. It keeps the last good answer while a refresh is in flight.
 */
export function useFetched<T>(url: string | null, version: number, minGapMs = 2000): { data: T | null; error: boolean } {
  const [state, setState] = useState<{ url: string | null; data: T | null; error: boolean }>({ url: null, data: null, error: false })
  const last = useRef<{ url: string | null; at: number }>({ url: null, at: 0 })
  const current = useRef<string | null>(url)
  const seq = useRef({ sent: 0, shown: 0 }) // an older answer never replaces a newer one
  useEffect(() => {
    current.current = url
    return () => {
      current.current = null
    }
  }, [url])
  useEffect(() => {
    if (!url) return
    const run = () => {
      last.current = { url, at: Date.now() }
      const n = ++seq.current.sent
      fetch(url, { headers: { Accept: 'application/json' } })
        .then((r) => {
          if (!r.ok) throw new Error(`GET ${url}: ${r.status}`)
          return r.json() as Promise<T>
        })
        .then((data) => {
          if (current.current !== url || n < seq.current.shown) return
          seq.current.shown = n
          setState({ url, data, error: false })
        })
        .catch(() => {
          if (current.current === url) setState((s) => ({ ...s, error: true }))
        })
    }
    const wait = last.current.url === url ? Math.max(0, last.current.at + minGapMs - Date.now()) : 0
    const id = window.setTimeout(run, wait)
    return () => window.clearTimeout(id)
  }, [url, version, minGapMs])
  return { data: state.url === url ? state.data : null, error: state.error }
}
