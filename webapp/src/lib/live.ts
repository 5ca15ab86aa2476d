import type { Snapshot } from '../types'
import { parseSnapshot } from './parse'

// LiveClient keeps the dashboard fed: a WebSocket to /ws that pushes a full
// snapshot per frame, reopened after any close with exponential back-off
// and jitter, and, while the socket is down, a poll of GET /api/stats so the
// figures keep moving when WebSockets are blocked (a proxy) or the realtime
// tier is restarting. Everything it touches (socket, fetch, timers, random)
// is injected, so the tests drive it with fake timers and fake sockets.
//
// Liveness: the server pushes only when the data changed (it re-reads at
// least every 5 s), so a quiet socket is normal, but a half-open one (a NAT
// or proxy that dropped the connection without telling the browser) looks
// the same. After silenceMs (30 s) with no frame, one GET /api/stats probe
// decides: if it fails, the server is unreachable and the socket is
// reopened; if it shows data other than the last frame's (generated_at
// aside, as the server itself compares), the socket missed a push: unless a
// frame arrives within graceMs, it is reopened; otherwise the socket is kept
// and the next probe is 30 s later.

export type Status = 'connecting' | 'live' | 'reconnecting'
export type Transport = 'ws' | 'http' | 'none'

export interface ConnectionState {
  status: Status
  transport: Transport // where the last snapshot came from
  attempt: number // consecutive failed connection attempts
  nextRetryMs: number | null // the back-off now waited, if any
}

/** The parts of a WebSocket that LiveClient uses. */
export interface SocketLike {
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: unknown) => void) | null
  onerror: ((ev: unknown) => void) | null
  close(): void
}

export interface LiveDeps {
  createSocket: (url: string) => SocketLike
  fetchStats: () => Promise<unknown>
  setTimeout: (fn: () => void, ms: number) => unknown
  clearTimeout: (id: unknown) => void
  random: () => number
}

export interface LiveOptions {
  wsUrl: string
  onSnapshot: (s: Snapshot) => void
  onState: (s: ConnectionState) => void
  baseDelayMs?: number // first retry waits between base/2 and base
  maxDelayMs?: number // cap of the back-off
  pollMs?: number // GET /api/stats period while the socket is down
  openTimeoutMs?: number // give up on a socket that neither opens nor fails
  silenceMs?: number // probe GET /api/stats after this long without a frame
  graceMs?: number // after a probe that shows newer data, wait this long for a frame
}

export const DEFAULT_BASE_MS = 250
export const DEFAULT_MAX_MS = 5000

/**
 * backoffDelay is the wait before reconnection attempt number `attempt`
 * (0-based): an exponential ceiling min(cap, base*2^attempt), with "equal
 * jitter": a uniform pick in [ceiling/2, ceiling]. The jitter spreads the
 * reconnections of many open dashboards after a restart; the lower half
 * keeps one dashboard from retrying in a tight loop.
 */
export function backoffDelay(
  attempt: number,
  random: () => number = Math.random,
  baseMs = DEFAULT_BASE_MS,
  maxMs = DEFAULT_MAX_MS,
): number {
  const a = Math.max(0, Math.floor(attempt))
  const ceiling = Math.min(maxMs, baseMs * Math.pow(2, Math.min(a, 30)))
  const r = Math.min(1, Math.max(0, random()))
  return ceiling / 2 + (r * ceiling) / 2
}

export class LiveClient {
  private readonly o: Required<LiveOptions>
  private readonly d: LiveDeps
  private socket: SocketLike | null = null
  private open = false
  private stopped = true
  private attempt = 0
  private retryTimer: unknown = null
  private openTimer: unknown = null
  private pollTimer: unknown = null
  private polling = false
  private silenceTimer: unknown = null
  private frames = 0 // frames received, to tell whether one arrived during a probe
  private last: Snapshot | null = null // the snapshot last rendered
  private state: ConnectionState = { status: 'connecting', transport: 'none', attempt: 0, nextRetryMs: null }

  constructor(opts: LiveOptions, deps: LiveDeps) {
    this.o = {
      baseDelayMs: DEFAULT_BASE_MS,
      maxDelayMs: DEFAULT_MAX_MS,
      pollMs: 2000,
      openTimeoutMs: 8000,
      silenceMs: 30_000,
      graceMs: 5000,
      ...opts,
    }
    this.d = deps
  }

  get connectionState(): ConnectionState {
    return this.state
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.emit({ status: 'connecting', transport: 'none', attempt: 0, nextRetryMs: null })
    this.connect()
  }

  stop(): void {
    this.stopped = true
    this.clear('retryTimer')
    this.clear('openTimer')
    this.clear('silenceTimer')
    this.stopPolling()
    const s = this.socket
    this.socket = null
    this.open = false
    if (s) {
      s.onopen = s.onmessage = s.onclose = s.onerror = null
      try {
        s.close()
      } catch {
        /* already closed */
      }
    }
  }

  private emit(next: ConnectionState): void {
    this.state = next
    this.o.onState(next)
  }

  private clear(which: 'retryTimer' | 'openTimer' | 'pollTimer' | 'silenceTimer'): void {
    if (this[which] !== null) {
      this.d.clearTimeout(this[which])
      this[which] = null
    }
  }

  private connect(): void {
    if (this.stopped) return
    let s: SocketLike
    try {
      s = this.d.createSocket(this.o.wsUrl)
    } catch {
      this.onDown(null)
      return
    }
    this.socket = s
    this.openTimer = this.d.setTimeout(() => {
      this.openTimer = null
      if (this.socket === s && !this.open) this.onDown(s)
    }, this.o.openTimeoutMs)
    s.onopen = () => {
      if (this.socket !== s || this.stopped) return
      this.clear('openTimer')
      this.open = true
      this.attempt = 0
      this.stopPolling()
      this.emit({ status: 'live', transport: 'ws', attempt: 0, nextRetryMs: null })
      this.armSilence(s)
    }
    s.onmessage = (ev) => {
      if (this.socket !== s || this.stopped) return
      this.frames++
      this.armSilence(s)
      const snap = parseSnapshot(ev.data)
      if (snap) {
        if (this.state.transport !== 'ws' || this.state.status !== 'live') {
          this.emit({ status: 'live', transport: 'ws', attempt: 0, nextRetryMs: null })
        }
        this.render(snap)
      }
    }
    s.onerror = () => {
      /* a close event follows; handled there */
    }
    s.onclose = () => {
      if (this.socket !== s) return
      this.onDown(s)
    }
  }

  private render(snap: Snapshot): void {
    this.last = snap
    this.o.onSnapshot(snap)
  }

  /** armSilence (re)starts the wait for the next frame on an open socket. */
  private armSilence(s: SocketLike): void {
    this.clear('silenceTimer')
    this.silenceTimer = this.d.setTimeout(() => {
      this.silenceTimer = null
      this.probe(s)
    }, this.o.silenceMs)
  }

  /** probe asks GET /api/stats whether a silent socket is still worth keeping. */
  private probe(s: SocketLike): void {
    if (this.socket !== s || !this.open || this.stopped) return
    const seen = this.frames
    // a frame that arrived meanwhile settles it: the socket is alive
    const moot = () => this.socket !== s || !this.open || this.stopped || this.frames !== seen
    this.d
      .fetchStats()
      .then((body) => {
        if (moot()) return
        const snap = parseSnapshot(body)
        if (snap && sameData(snap, this.last)) {
          this.armSilence(s) // quiet because nothing changed
          return
        }
        // the server has news the socket did not bring (or answers nonsense):
        // give a frame in flight a chance, then reopen
        this.silenceTimer = this.d.setTimeout(() => {
          this.silenceTimer = null
          if (!moot()) this.onDown(s)
        }, this.o.graceMs)
      })
      .catch(() => {
        if (!moot()) this.onDown(s) // silent and unreachable: reconnect
      })
  }

  /** onDown handles a socket that closed, failed or never opened. */
  private onDown(s: SocketLike | null): void {
    this.clear('openTimer')
    this.clear('silenceTimer')
    if (s) {
      s.onopen = s.onmessage = s.onclose = s.onerror = null
      try {
        s.close()
      } catch {
        /* ignore */
      }
    }
    this.socket = null
    this.open = false
    if (this.stopped) return
    const delay = backoffDelay(this.attempt, this.d.random, this.o.baseDelayMs, this.o.maxDelayMs)
    this.attempt++
    this.emit({
      status: 'reconnecting',
      transport: this.state.transport === 'ws' ? 'none' : this.state.transport,
      attempt: this.attempt,
      nextRetryMs: delay,
    })
    this.startPolling()
    this.clear('retryTimer')
    this.retryTimer = this.d.setTimeout(() => {
      this.retryTimer = null
      this.connect()
    }, delay)
  }

  private startPolling(): void {
    if (this.polling) return
    this.polling = true
    this.pollTimer = this.d.setTimeout(() => this.poll(), 0)
  }

  private stopPolling(): void {
    this.polling = false
    this.clear('pollTimer')
  }

  private poll(): void {
    this.pollTimer = null
    if (!this.polling || this.stopped) return
    const next = () => {
      if (this.polling && !this.stopped && this.pollTimer === null) {
        this.pollTimer = this.d.setTimeout(() => this.poll(), this.o.pollMs)
      }
    }
    this.d
      .fetchStats()
      .then((body) => {
        // a socket that opened meanwhile is fresher than this answer
        if (!this.polling || this.stopped || this.open) return
        const snap = parseSnapshot(body)
        if (!snap) return
        if (this.state.transport !== 'http') this.emit({ ...this.state, transport: 'http' })
        this.render(snap)
      })
      .catch(() => {
        /* the server is down as well: keep trying */
      })
      .finally(next)
  }
}

/**
 * sameData reports whether two snapshots show the same data: everything but
 * generated_at, which changes on every read (the server compares the same
 * way before pushing).
 */
export function sameData(a: Snapshot, b: Snapshot | null): boolean {
  if (!b) return false
  return JSON.stringify({ ...a, generated_at: '' }) === JSON.stringify({ ...b, generated_at: '' })
}

/** wsUrlFor derives ws(s)://<same host>/ws from the page's location. */
export function wsUrlFor(loc: Pick<Location, 'protocol' | 'host'>): string {
  return (loc.protocol === 'https:' ? 'wss://' : 'ws://') + loc.host + '/ws'
}
