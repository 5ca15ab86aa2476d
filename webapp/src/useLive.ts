import { useEffect, useState } from 'react'
import { LiveClient, wsUrlFor, type ConnectionState, type SocketLike } from './lib/live'
import type { Snapshot } from './types'

/** useLive connects to the page's own /ws (falling back to /api/stats) and returns the latest snapshot. */
export function useLive(): { snap: Snapshot | null; conn: ConnectionState } {
  const [snap, setSnap] = useState<Snapshot | null>(null)
  const [conn, setConn] = useState<ConnectionState>({ status: 'connecting', transport: 'none', attempt: 0, nextRetryMs: null })
  useEffect(() => {
    const client = new LiveClient(
      { wsUrl: wsUrlFor(window.location), onSnapshot: setSnap, onState: setConn },
      {
        createSocket: (url) => new WebSocket(url) as unknown as SocketLike,
        fetchStats: async () => {
          const res = await fetch('/api/stats', { cache: 'no-store', headers: { Accept: 'application/json' } })
          if (!res.ok) throw new Error(`GET /api/stats: ${res.status}`)
          return res.json()
        },
        setTimeout: (fn, ms) => window.setTimeout(fn, ms),
        clearTimeout: (id) => window.clearTimeout(id as number),
        random: Math.random,
      },
    )
    client.start()
    return () => client.stop()
  }, [])
  return { snap, conn }
}
