import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { snapshot } from '../test-fixtures'
import { backoffDelay, LiveClient, sameData, wsUrlFor, type ConnectionState, type SocketLike } from './live'
import type { Snapshot } from '../types'

describe('backoffDelay', () => {
  it('doubles from 250 ms, with jitter in the upper half of each step', () => {
    const lo = [0, 1, 2, 3, 4].map((a) => backoffDelay(a, () => 0))
    const hi = [0, 1, 2, 3, 4].map((a) => backoffDelay(a, () => 1))
    expect(lo).toEqual([125, 250, 500, 1000, 2000])
    expect(hi).toEqual([250, 500, 1000, 2000, 4000])
  })
  it('is capped at 5 s however many attempts failed', () => {
    for (const a of [5, 6, 10, 50, 1e6]) {
      expect(backoffDelay(a, () => 1)).toBe(5000)
      expect(backoffDelay(a, () => 0)).toBe(2500)
    }
  })
  it('spreads clients: different random draws give different delays', () => {
    const ds = new Set([0.1, 0.4, 0.7, 0.9].map((r) => backoffDelay(3, () => r)))
    expect(ds.size).toBe(4)
  })
})

describe('wsUrlFor', () => {
  it('uses the page’s host and wss under https', () => {
    expect(wsUrlFor({ protocol: 'http:', host: '127.0.0.1:8080' })).toBe('ws://127.0.0.1:8080/ws')
    expect(wsUrlFor({ protocol: 'https:', host: 'vac.example' })).toBe('wss://vac.example/ws')
  })
})

class FakeSocket implements SocketLike {
  onopen: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: unknown) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  closed = false
  url: string
  constructor(url: string) {
    this.url = url
  }
  close() {
    this.closed = true
  }
  // what the server / network does
  serverOpen() {
    this.onopen?.({})
  }
  serverSend(data: unknown) {
    this.onmessage?.({ data: typeof data === 'string' ? data : JSON.stringify(data) })
  }
  drop() {
    this.onerror?.({})
    this.onclose?.({})
  }
}

describe('LiveClient', () => {
  let sockets: FakeSocket[]
  let states: ConnectionState[]
  let snaps: Snapshot[]
  let fetchStats: ReturnType<typeof vi.fn<() => Promise<unknown>>>
  let client: LiveClient

  beforeEach(() => {
    vi.useFakeTimers()
    sockets = []
    states = []
    snaps = []
    fetchStats = vi.fn<() => Promise<unknown>>(() => Promise.reject(new Error('down')))
    client = new LiveClient(
      { wsUrl: 'ws://h/ws', onSnapshot: (s) => snaps.push(s), onState: (s) => states.push(s) },
      {
        createSocket: (url) => {
          const s = new FakeSocket(url)
          sockets.push(s)
          return s
        },
        fetchStats: () => fetchStats(),
        setTimeout: (fn, ms) => setTimeout(fn, ms),
        clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
        random: () => 1, // the top of each jitter range: the slowest schedule
      },
    )
  })

  afterEach(() => {
    client.stop()
    vi.useRealTimers()
  })

  const last = () => states[states.length - 1]

  it('goes live on open and renders every snapshot frame', () => {
    client.start()
    expect(sockets).toHaveLength(1)
    expect(sockets[0].url).toBe('ws://h/ws')
    expect(last().status).toBe('connecting')
    sockets[0].serverOpen()
    expect(last()).toMatchObject({ status: 'live', transport: 'ws' })
    sockets[0].serverSend(snapshot({ total: 1 }))
    sockets[0].serverSend(snapshot({ total: 2 }))
    expect(snaps.map((s) => s.total)).toEqual([1, 2])
  })

  it('ignores frames that are not snapshots', () => {
    client.start()
    sockets[0].serverOpen()
    sockets[0].serverSend('not json')
    sockets[0].serverSend({ hello: 'world' })
    expect(snaps).toHaveLength(0)
    expect(last().status).toBe('live')
  })

  it('reconnects with growing delays capped at 5 s, and resets after a success', () => {
    client.start()
    sockets[0].drop()
    expect(last()).toMatchObject({ status: 'reconnecting', attempt: 1, nextRetryMs: 250 })
    const waits: number[] = []
    for (let i = 0; i < 8; i++) {
      const wait = last().nextRetryMs!
      waits.push(wait)
      vi.advanceTimersByTime(wait - 1)
      expect(sockets).toHaveLength(i + 1) // not a millisecond early
      vi.advanceTimersByTime(1)
      expect(sockets).toHaveLength(i + 2)
      sockets[i + 1].drop()
    }
    expect(waits).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 5000])

    vi.advanceTimersByTime(5000)
    const s = sockets[sockets.length - 1]
    s.serverOpen()
    expect(last()).toMatchObject({ status: 'live', attempt: 0 })
    s.drop()
    expect(last().nextRetryMs).toBe(250) // back to the first step
  })

  it('gives up on a socket that never opens and tries again', () => {
    client.start()
    vi.advanceTimersByTime(8000) // open timeout
    expect(sockets[0].closed).toBe(true)
    expect(last().status).toBe('reconnecting')
    vi.advanceTimersByTime(250)
    expect(sockets).toHaveLength(2)
  })

  it('polls /api/stats while the socket is down, and stops when it is back', async () => {
    fetchStats.mockImplementation(() => Promise.resolve(snapshot({ total: 7 })))
    client.start()
    sockets[0].drop()
    await vi.advanceTimersByTimeAsync(0)
    expect(fetchStats).toHaveBeenCalledTimes(1)
    expect(snaps.map((s) => s.total)).toEqual([7])
    expect(last()).toMatchObject({ status: 'reconnecting', transport: 'http' })

    // keep failing the socket for a while: the poll keeps going every 2 s
    await vi.advanceTimersByTimeAsync(250) // first retry
    sockets[1].drop()
    await vi.advanceTimersByTimeAsync(2000)
    expect(fetchStats).toHaveBeenCalledTimes(2)

    await vi.advanceTimersByTimeAsync(500)
    const s = sockets[sockets.length - 1]
    s.serverOpen()
    expect(last()).toMatchObject({ status: 'live', transport: 'ws' })
    const calls = fetchStats.mock.calls.length
    await vi.advanceTimersByTimeAsync(10_000)
    expect(fetchStats).toHaveBeenCalledTimes(calls)
  })

  it('drops a poll answer that arrives after the socket reopened', async () => {
    let resolve!: (v: unknown) => void
    fetchStats.mockImplementation(() => new Promise((r) => (resolve = r)))
    client.start()
    sockets[0].drop()
    await vi.advanceTimersByTimeAsync(0) // poll in flight
    await vi.advanceTimersByTimeAsync(250) // reconnect
    sockets[1].serverOpen()
    sockets[1].serverSend(snapshot({ total: 9 }))
    resolve(snapshot({ total: 3 })) // stale
    await vi.advanceTimersByTimeAsync(0)
    expect(snaps.map((s) => s.total)).toEqual([9])
  })

  describe('liveness: a socket silent for 30 s is checked with one GET /api/stats', () => {
    const opened = () => {
      client.start()
      sockets[0].serverOpen()
      sockets[0].serverSend(snapshot({ total: 1 }))
      return sockets[0]
    }

    it('reopens the socket when the probe fails too (server unreachable, half-open socket)', async () => {
      const s = opened()
      await vi.advanceTimersByTimeAsync(29_999)
      expect(fetchStats).not.toHaveBeenCalled()
      expect(s.closed).toBe(false)
      await vi.advanceTimersByTimeAsync(1) // 30 s without a frame: probe, which fails
      expect(s.closed).toBe(true)
      expect(last()).toMatchObject({ status: 'reconnecting', attempt: 1 })
      await vi.advanceTimersByTimeAsync(1)
      expect(fetchStats).toHaveBeenCalledTimes(2) // the probe, then the poll of the reconnecting state
      await vi.advanceTimersByTimeAsync(249)
      expect(sockets).toHaveLength(2)
    })

    it('every frame restarts the 30 s', async () => {
      const s = opened()
      for (let i = 0; i < 5; i++) {
        await vi.advanceTimersByTimeAsync(25_000)
        s.serverSend(snapshot({ total: 2 + i }))
      }
      await vi.advanceTimersByTimeAsync(29_999)
      expect(fetchStats).not.toHaveBeenCalled()
      expect(s.closed).toBe(false)
      expect(last().status).toBe('live')
    })

    it('keeps a quiet socket while the server answers with the same data, and checks again 30 s later', async () => {
      fetchStats.mockImplementation(() => Promise.resolve(snapshot({ total: 1, generated_at: '2026-11-27T09:00:00Z' })))
      const s = opened()
      await vi.advanceTimersByTimeAsync(30_000)
      expect(fetchStats).toHaveBeenCalledTimes(1)
      await vi.advanceTimersByTimeAsync(29_999)
      expect(fetchStats).toHaveBeenCalledTimes(1)
      expect(s.closed).toBe(false)
      expect(last()).toMatchObject({ status: 'live', transport: 'ws' })
      await vi.advanceTimersByTimeAsync(1)
      expect(fetchStats).toHaveBeenCalledTimes(2)
      expect(sockets).toHaveLength(1)
      expect(snaps.map((x) => x.total)).toEqual([1]) // a probe is not rendered
    })

    it('reopens when the probe shows data the socket never brought, unless a frame comes within 5 s', async () => {
      fetchStats.mockImplementation(() => Promise.resolve(snapshot({ total: 2 })))
      const s = opened()
      await vi.advanceTimersByTimeAsync(30_000) // probe: the server has total 2, the page 1
      await vi.advanceTimersByTimeAsync(4_999)
      expect(s.closed).toBe(false)
      await vi.advanceTimersByTimeAsync(1)
      expect(s.closed).toBe(true)
      expect(last().status).toBe('reconnecting')
      await vi.advanceTimersByTimeAsync(1)
      expect(snaps.map((x) => x.total)).toEqual([1, 2]) // the poll of the reconnecting state brings it

      // the same, but the frame was only late: the socket stays
      client.stop()
      sockets = []
      snaps = []
      const s2 = opened()
      await vi.advanceTimersByTimeAsync(30_000)
      await vi.advanceTimersByTimeAsync(1_000)
      s2.serverSend(snapshot({ total: 2 }))
      await vi.advanceTimersByTimeAsync(10_000)
      expect(s2.closed).toBe(false)
      expect(last()).toMatchObject({ status: 'live', transport: 'ws' })
    })

    it('a frame that arrives during the probe makes the probe’s failure moot', async () => {
      let reject!: (e: unknown) => void
      fetchStats.mockImplementation(() => new Promise((_, r) => (reject = r)))
      const s = opened()
      await vi.advanceTimersByTimeAsync(30_000)
      expect(fetchStats).toHaveBeenCalledTimes(1)
      s.serverSend(snapshot({ total: 5 }))
      reject(new Error('timeout'))
      await vi.advanceTimersByTimeAsync(0)
      expect(s.closed).toBe(false)
      expect(last().status).toBe('live')
    })

    it('sameData ignores generated_at only', () => {
      const a = snapshot()
      expect(sameData({ ...a, generated_at: 'later' }, a)).toBe(true)
      expect(sameData({ ...a, records_per_second: 0 }, a)).toBe(false)
      expect(sameData({ ...a, rollout: null }, { ...a })).toBe(true)
      expect(sameData(a, null)).toBe(false)
    })
  })

  it('stop() closes the socket and cancels every timer', async () => {
    client.start()
    sockets[0].drop()
    client.stop()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(sockets).toHaveLength(1)
    expect(fetchStats).toHaveBeenCalledTimes(0)
    client.start()
    expect(sockets).toHaveLength(2)
    sockets[1].serverOpen()
    client.stop()
    expect(sockets[1].closed).toBe(true)
  })
})
