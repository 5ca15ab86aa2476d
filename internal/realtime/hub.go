// Package realtime provides the WebSocket tier: a Hub that pushes the
// statistics snapshot to every connected dashboard on connect and whenever the
// data changed. It learns of changes from the Redis "changed" notice (so any
// number of instances show the same data) and from in-process hints, coalesces
// them to at most MaxPerSecond snapshots per second, encodes each snapshot once
// (a prepared message shared by all clients) and gives every client a small
// latest-only queue, so a slow client skips frames and a client that stops
// reading is dropped without slowing the others.
package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Source returns the current snapshot, already JSON-encoded.
type Source func(ctx context.Context) ([]byte, error)

// Defaults applied by New to zero Config fields.
const (
	DefaultChannel         = "vacunometro.changed"
	DefaultMaxConns        = 10000
	DefaultMaxPerSecond    = 10
	DefaultSendQueue       = 2
	DefaultWriteTimeout    = 10 * time.Second
	DefaultPongWait        = 60 * time.Second
	DefaultPingInterval    = 25 * time.Second
	DefaultMaxMessageSize  = 512
	DefaultRefreshInterval = 5 * time.Second
	DefaultFetchTimeout    = 5 * time.Second
	DefaultSendBuffer      = 64 << 10
)

// Config configures a Hub. Only Source is required.
type Config struct {
	// Source returns the current snapshot (JSON). It is read after change
	// notices (rate-limited with the pushes, see MaxPerSecond), once per
	// RefreshInterval, after each Redis re-subscription, and when a client
	// connects before any snapshot is cached; never once per client.
	Source Source
	// Redis, if set, is subscribed to Channel for change notices. Without it
	// the Hub learns of changes only from Notify and the periodic refresh.
	Redis redis.UniversalClient
	// Channel is the Redis pub/sub channel of change notices.
	Channel string
	// AllowedOrigins lists exact origins ("https://x.example"). Empty means
	// same host only (the Origin's host equals the request's Host); "*" allows
	// any. A request without an Origin header (not a browser) is allowed.
	AllowedOrigins []string
	// MaxConns caps concurrent connections; over it the upgrade is answered
	// with HTTP 503 and a JSON error.
	MaxConns int
	// MaxPerSecond caps snapshots pushed per second (coalescing, trailing
	// edge: the last change is always delivered). It is enforced as a token
	// bucket of 1.25 pushes, so notices arriving at exactly this rate with a
	// little jitter are neither delayed nor merged; a read that finds the
	// snapshot unchanged gives its token back.
	MaxPerSecond float64
	// SendQueue bounds each client's queue of frames not yet written; when it
	// is full the oldest queued frame is skipped (latest wins).
	SendQueue int
	// WriteTimeout bounds one frame write: a client whose socket stays full
	// for that long is dropped. (A client that reads nothing at all is
	// usually dropped first by PongWait, since it answers no ping.)
	WriteTimeout time.Duration
	// PingInterval is how often a ping is sent; PongWait is how long the
	// client may stay silent (no pong, no frame) before it is dropped. It must
	// exceed PingInterval.
	PingInterval time.Duration
	PongWait     time.Duration
	// SendBuffer is each connection's kernel send buffer in bytes (SO_SNDBUF;
	// default 64 KiB, negative = leave the OS's autotuning). It bounds how many
	// frames pile up unseen in the kernel for a slow client before its
	// latest-only queue starts skipping frames (and the server memory).
	SendBuffer int
	// MaxMessageSize is the read limit for client frames.
	MaxMessageSize int64
	// RefreshInterval re-reads the Source periodically so that a missed notice
	// heals (the push is skipped when the snapshot did not change).
	RefreshInterval time.Duration
	// FetchTimeout bounds one Source call.
	FetchTimeout time.Duration
	// Unchanged reports whether next shows the same data as prev, in which
	// case no frame is pushed. Default bytes.Equal; see IgnoreKeys.
	Unchanged func(prev, next []byte) bool
	Logger    *slog.Logger
	// Registerer, if set, receives the Hub's Prometheus metrics.
	Registerer prometheus.Registerer
}

// IgnoreKeys returns an Unchanged function that compares two JSON objects
// ignoring the given top-level keys (e.g. "generated_at", which changes on
// every read). Snapshots that are not JSON objects are compared as bytes.
func IgnoreKeys(keys ...string) func(prev, next []byte) bool {
	return func(prev, next []byte) bool {
		if bytes.Equal(prev, next) {
			return true
		}
		var a, b map[string]json.RawMessage
		if json.Unmarshal(prev, &a) != nil || json.Unmarshal(next, &b) != nil {
			return false
		}
		for _, k := range keys {
			delete(a, k)
			delete(b, k)
		}
		if len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !bytes.Equal(va, vb) {
				return false
			}
		}
		return true
	}
}

// Stats are the Hub's counters since New.
type Stats struct {
	Clients       int    // connected now
	Broadcasts    uint64 // snapshots pushed to all clients
	MessagesSent  uint64 // frames written to clients
	FramesSkipped uint64 // frames a slow client skipped (replaced by a newer one)
	ClientsDrop   uint64 // clients dropped for a write timeout or a missing pong
	Rejected      uint64 // upgrades refused (origin, capacity, no snapshot)
	SourceErrors  uint64
}

// frame is one prepared snapshot.
type frame struct {
	pm   *websocket.PreparedMessage
	data []byte
}

// Hub fans snapshots out to WebSocket clients. Create it with New, start Run,
// mount it (ServeHTTP) on GET /ws, and Close it on shutdown.
type Hub struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader
	origins  map[string]bool
	anyOrig  bool

	mu      sync.Mutex // guards clients, current, closed
	clients map[*client]struct{}
	current *frame
	closed  bool

	fetchMu sync.Mutex // serializes Source calls and the current-vs-new comparison

	wake     chan struct{} // a change hint (cap 1)
	noticeAt atomic.Int64  // unix nanos of the first unserved change hint, 0 if none
	closing  chan struct{}
	closeMu  sync.Once
	wg       sync.WaitGroup // client goroutines

	conns atomic.Int64 // reserved connection slots (upgrading + connected)

	nClients     atomic.Int64
	nBroadcasts  atomic.Uint64
	nSent        atomic.Uint64
	nSkipped     atomic.Uint64
	nDropped     atomic.Uint64
	nRejected    atomic.Uint64
	nSourceErrs  atomic.Uint64
	lag          prometheus.Histogram
	droppedBy    *prometheus.CounterVec
	rejectedBy   *prometheus.CounterVec
	subscribedOK atomic.Bool
	nSubscribes  atomic.Int64  // confirmed subscriptions (1 + re-subscriptions)
	healthEvery  time.Duration // quiet time on the subscription before a PING
}

// New validates cfg, applies defaults and returns a Hub.
func New(cfg Config) (*Hub, error) {
	if cfg.Source == nil {
		return nil, errors.New("realtime: Config.Source is required")
	}
	if cfg.Channel == "" {
		cfg.Channel = DefaultChannel
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxPerSecond <= 0 {
		cfg.MaxPerSecond = DefaultMaxPerSecond
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.PongWait <= 0 {
		cfg.PongWait = DefaultPongWait
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = min(DefaultPingInterval, cfg.PongWait*9/10)
	}
	if cfg.PingInterval >= cfg.PongWait {
		return nil, fmt.Errorf("realtime: PingInterval %v must be shorter than PongWait %v", cfg.PingInterval, cfg.PongWait)
	}
	if cfg.SendBuffer == 0 {
		cfg.SendBuffer = DefaultSendBuffer
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.Unchanged == nil {
		cfg.Unchanged = bytes.Equal
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Hub{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "realtime"),
		origins: make(map[string]bool),
		clients: make(map[*client]struct{}),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),

		healthEvery: 15 * time.Second,
	}
	for _, o := range cfg.AllowedOrigins {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		if o == "*" {
			h.anyOrig = true
		} else if o != "" {
			h.origins[strings.ToLower(o)] = true
		}
	}
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.WriteTimeout,
		ReadBufferSize:   1024,
		WriteBufferSize:  4096,
		WriteBufferPool:  &sync.Pool{},                             // frames are written straight to the socket; the buffer is rarely needed
		CheckOrigin:      func(*http.Request) bool { return true }, // checked in ServeHTTP, with a JSON answer
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeJSONError(w, status, reason.Error())
		},
	}
	if err := h.initMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *Hub) initMetrics(reg prometheus.Registerer) error {
	const ns, sub = "vacunometro", "realtime"
	h.lag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "broadcast_lag_seconds",
		Help:    "Time from the first change notice to the snapshot queued to every client.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .15, .25, .5, 1, 2.5, 5},
	})
	h.droppedBy = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "clients_dropped_total",
		Help: "Clients disconnected by the server, by reason (write: a frame could not be written in time; pong: no pong in time).",
	}, []string{"reason"})
	h.rejectedBy = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "rejected_total",
		Help: "WebSocket upgrades refused, by reason.",
	}, []string{"reason"})
	if reg == nil {
		return nil
	}
	cs := []prometheus.Collector{
		h.lag, h.droppedBy, h.rejectedBy,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "clients",
			Help: "Connected WebSocket clients."}, func() float64 { return float64(h.nClients.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "messages_sent_total",
			Help: "Snapshot frames written to clients."}, func() float64 { return float64(h.nSent.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "broadcasts_total",
			Help: "Snapshots pushed to all clients."}, func() float64 { return float64(h.nBroadcasts.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "frames_skipped_total",
			Help: "Frames a slow client skipped because a newer snapshot replaced them in its queue."},
			func() float64 { return float64(h.nSkipped.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "source_errors_total",
			Help: "Failed snapshot reads."}, func() float64 { return float64(h.nSourceErrs.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "redis_subscribed",
			Help: "1 while the Redis change-notice subscription is up."}, func() float64 {
			if h.subscribedOK.Load() {
				return 1
			}
			return 0
		}),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("realtime: register metrics: %w", err)
		}
	}
	return nil
}

// Clients returns the number of connected clients.
func (h *Hub) Clients() int { return int(h.nClients.Load()) }

// Stats returns the Hub's counters.
func (h *Hub) Stats() Stats {
	return Stats{
		Clients:       h.Clients(),
		Broadcasts:    h.nBroadcasts.Load(),
		MessagesSent:  h.nSent.Load(),
		FramesSkipped: h.nSkipped.Load(),
		ClientsDrop:   h.nDropped.Load(),
		Rejected:      h.nRejected.Load(),
		SourceErrors:  h.nSourceErrs.Load(),
	}
}

// Notify is a local change hint: a new snapshot is pushed soon (coalesced).
func (h *Hub) Notify() {
	h.noticeAt.CompareAndSwap(0, time.Now().UnixNano())
	h.poke()
}

func (h *Hub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Run subscribes to the Redis change notices (if Config.Redis is set),
// coalesces notices and hints, and broadcasts snapshots until ctx ends; then
// it returns nil. It re-subscribes with back-off when the subscription is lost
// and pushes a fresh snapshot once it is back. Run does not close the clients:
// call Close for that.
func (h *Hub) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if h.cfg.Redis != nil {
		wg.Go(func() { h.subscribe(ctx) })
	}
	h.coalesce(ctx)
	wg.Wait()
	return nil
}

// coalesce turns change hints into at most MaxPerSecond snapshot reads: a
// hint is served at once when the rate allows, otherwise by a read at the
// earliest allowed time (trailing edge), which sees every change made until
// then, so the last change is always delivered.
func (h *Hub) coalesce(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	refresh := time.NewTicker(h.cfg.RefreshInterval)
	defer refresh.Stop()
	lim := newBucket(h.cfg.MaxPerSecond, time.Now())
	try := func() {
		if wait := lim.take(time.Now()); wait > 0 {
			timer.Reset(wait)
			armed = true
			return
		}
		armed = false
		pushed, err := h.refresh(ctx)
		if !pushed {
			// Only pushes count against the rate: a read that found
			// nothing new (a periodic refresh, a repeated notice) must not
			// delay the next change.
			lim.refund()
		}
		if err != nil && ctx.Err() == nil {
			// The Source failed: try again soon rather than at the next
			// notice or periodic refresh.
			timer.Reset(retryAfterError)
			armed = true
		}
	}
	h.poke() // a first snapshot at start
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-refresh.C:
			h.poke()
		case <-h.wake:
			if !armed {
				try()
			}
		case <-timer.C:
			try()
		}
	}
}

// burstTokens is the read bucket's capacity: one read plus a quarter, so
// that notices arriving at exactly MaxPerSecond, some a little early, are
// neither delayed nor merged, while a sustained stream of notices still
// yields MaxPerSecond reads per second.
const burstTokens = 1.25

// bucket is a token bucket of snapshot reads.
type bucket struct {
	rate   float64 // tokens per second
	tokens float64
	at     time.Time
}

func newBucket(rate float64, now time.Time) *bucket {
	return &bucket{rate: rate, tokens: burstTokens, at: now}
}

// refund gives back a token that take spent.
func (b *bucket) refund() { b.tokens = min(burstTokens, b.tokens+1) }

// take spends a token and returns 0, or returns how long until one is due.
func (b *bucket) take(now time.Time) time.Duration {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(burstTokens, b.tokens+d.Seconds()*b.rate)
		b.at = now
	}
	const eps = 1e-6 // timer and float rounding
	if b.tokens >= 1-eps {
		b.tokens = max(b.tokens-1, 0)
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// retryAfterError is the pause before re-reading a failed Source.
const retryAfterError = time.Second

// refresh reads the Source and, if the snapshot changed, broadcasts it. It
// reports whether it pushed a new snapshot.
func (h *Hub) refresh(ctx context.Context) (bool, error) {
	noticed := h.noticeAt.Swap(0)
	pushed, err := h.fetch(ctx, false)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Warn("realtime: read snapshot", "err", err)
		}
		if noticed != 0 {
			h.noticeAt.CompareAndSwap(0, noticed) // still owed
		}
		return false, err
	}
	if noticed != 0 {
		h.lag.Observe(time.Since(time.Unix(0, noticed)).Seconds())
	}
	return pushed, nil
}

// fetch reads the Source and, when the data changed, replaces the cached
// frame and queues it to every client; it reports whether it did. With
// onlyIfEmpty it reads only when no snapshot is cached yet (a client
// connecting before the first read).
func (h *Hub) fetch(ctx context.Context, onlyIfEmpty bool) (bool, error) {
	cached := func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.current != nil
	}
	if onlyIfEmpty && cached() {
		return false, nil
	}
	h.fetchMu.Lock()
	defer h.fetchMu.Unlock()
	if onlyIfEmpty && cached() {
		return false, nil
	}
	fctx, cancel := context.WithTimeout(ctx, h.cfg.FetchTimeout)
	data, err := h.cfg.Source(fctx)
	cancel()
	if err != nil {
		h.nSourceErrs.Add(1)
		return false, fmt.Errorf("snapshot source: %w", err)
	}
	h.mu.Lock()
	cur := h.current
	h.mu.Unlock()
	if cur != nil && h.cfg.Unchanged(cur.data, data) {
		return false, nil
	}
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, data)
	if err != nil {
		return false, fmt.Errorf("prepare snapshot frame: %w", err)
	}
	f := &frame{pm: pm, data: data}
	h.mu.Lock()
	h.current = f
	for c := range h.clients {
		c.enqueue(f)
	}
	h.mu.Unlock()
	h.nBroadcasts.Add(1)
	return true, nil
}

// subscribe keeps a subscription to the change channel, re-subscribing with
// back-off, until ctx ends.
func (h *Hub) subscribe(ctx context.Context) {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	for ctx.Err() == nil {
		err := h.subscribeOnce(ctx, func() { backoff = minBackoff })
		h.subscribedOK.Store(false)
		if ctx.Err() != nil {
			return
		}
		h.log.Warn("realtime: redis subscription lost; retrying", "channel", h.cfg.Channel, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(jitter(backoff)):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

func jitter(d time.Duration) time.Duration {
	// +-20% spread without global random state: derive it from the clock.
	n := time.Now().UnixNano()
	return d*8/10 + time.Duration(n%int64(d*4/10+1))
}

// subscribeOnce subscribes, pushes a fresh snapshot once the subscription is
// confirmed, and forwards notices until the connection fails.
func (h *Hub) subscribeOnce(ctx context.Context, up func()) error {
	ps := h.cfg.Redis.Subscribe(ctx, h.cfg.Channel)
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer func() {
		stop()
		_ = ps.Close()
	}()
	confirmed := false
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, h.healthEvery)
		if err != nil {
			var ne interface{ Timeout() bool }
			if confirmed && !pinged && errors.As(err, &ne) && ne.Timeout() {
				// Quiet channel: check that the connection is alive.
				if err := ps.Ping(ctx); err != nil {
					return fmt.Errorf("ping: %w", err)
				}
				pinged = true
				continue
			}
			return fmt.Errorf("receive: %w", err)
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && !confirmed {
				confirmed = true
				h.subscribedOK.Store(true)
				h.nSubscribes.Add(1)
				up()
				h.log.Info("realtime: subscribed to change notices", "channel", h.cfg.Channel)
				// Changes may have been missed while unsubscribed.
				h.Notify()
			}
		case *redis.Message:
			h.Notify()
		case *redis.Pong:
		}
	}
}

// ServeHTTP upgrades GET /ws to a WebSocket and serves the client until it
// leaves, is dropped or the Hub closes.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeJSONError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if !h.originAllowed(r) {
		h.reject("origin")
		writeJSONError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	if h.isClosed() {
		h.reject("closing")
		writeJSONError(w, http.StatusServiceUnavailable, "server shutting down")
		return
	}
	if n := h.conns.Add(1); n > int64(h.cfg.MaxConns) {
		h.conns.Add(-1)
		h.reject("capacity")
		w.Header().Set("Retry-After", "5")
		writeJSONError(w, http.StatusServiceUnavailable, "too many connections")
		return
	}
	defer h.conns.Add(-1)

	if _, err := h.fetch(r.Context(), true); err != nil {
		h.reject("no_snapshot")
		h.log.Warn("realtime: no snapshot for a new client", "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, "snapshot unavailable")
		return
	}

	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.reject("handshake")
		return // the upgrader has answered
	}
	if tcp, ok := conn.NetConn().(*net.TCPConn); ok && h.cfg.SendBuffer > 0 {
		_ = tcp.SetWriteBuffer(h.cfg.SendBuffer)
	}
	c := &client{
		hub:  h,
		conn: conn,
		send: make(chan *frame, h.cfg.SendQueue),
		done: make(chan struct{}),
	}
	if !h.register(c) {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"),
			time.Now().Add(time.Second))
		_ = conn.Close()
		return
	}
	defer h.wg.Done()
	go c.readLoop()
	c.writeLoop()
}

func (h *Hub) reject(reason string) {
	h.nRejected.Add(1)
	h.rejectedBy.WithLabelValues(reason).Inc()
}

// register adds c and queues the current snapshot to it, under the same lock
// as broadcasts so that it never receives an older frame after a newer one.
func (h *Hub) register(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	h.clients[c] = struct{}{}
	h.nClients.Add(1)
	if h.current != nil {
		c.enqueue(h.current)
	}
	return true
}

func (h *Hub) unregister(c *client) {
	h.mu.Lock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.nClients.Add(-1)
	}
	h.mu.Unlock()
}

func (h *Hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *Hub) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || h.anyOrig {
		return true
	}
	if len(h.origins) == 0 {
		u, err := url.Parse(origin)
		return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
	}
	return h.origins[strings.ToLower(strings.TrimRight(origin, "/"))]
}

// Close refuses new connections, sends every client a going-away close
// frame, and waits (at most about WriteTimeout) for their connections to end.
func (h *Hub) Close() error {
	h.closeMu.Do(func() {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
		close(h.closing)
	})
	h.wg.Wait()
	return nil
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// client is one WebSocket connection: a reader goroutine that only watches
// for pongs and close frames, and a writer (the ServeHTTP goroutine).
type client struct {
	hub      *Hub
	conn     *websocket.Conn
	send     chan *frame
	done     chan struct{} // closed when the reader ends
	readErr  error
	doneOnce sync.Once
}

// enqueue queues f, skipping the oldest queued frame when the queue is full.
// It never blocks.
func (c *client) enqueue(f *frame) {
	for {
		select {
		case c.send <- f:
			return
		default:
		}
		select {
		case <-c.send:
			c.hub.nSkipped.Add(1)
		default:
		}
	}
}

func (c *client) readLoop() {
	h := c.hub
	c.conn.SetReadLimit(h.cfg.MaxMessageSize)
	_ = c.conn.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	})
	var err error
	for {
		if _, _, err = c.conn.NextReader(); err != nil {
			break
		}
		// Client frames carry nothing; any frame shows the client is alive.
		_ = c.conn.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	}
	c.readErr = err
	close(c.done)
}

func (c *client) writeLoop() {
	h := c.hub
	ping := time.NewTicker(h.cfg.PingInterval)
	defer func() {
		ping.Stop()
		h.unregister(c)
		_ = c.conn.Close()
		<-c.done
	}()
	deadline := func() time.Time { return time.Now().Add(h.cfg.WriteTimeout) }
	for {
		select {
		case f := <-c.send:
			_ = c.conn.SetWriteDeadline(deadline())
			if err := c.conn.WritePreparedMessage(f.pm); err != nil {
				c.writeFailed(err)
				return
			}
			h.nSent.Add(1)
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, deadline()); err != nil {
				c.writeFailed(err)
				return
			}
		case <-c.done:
			var ne interface{ Timeout() bool }
			if errors.As(c.readErr, &ne) && ne.Timeout() {
				c.drop("pong", c.readErr)
			}
			return
		case <-h.closing:
			_ = c.conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), deadline())
			// Give the client a moment to answer the close frame.
			select {
			case <-c.done:
			case <-time.After(min(h.cfg.WriteTimeout, time.Second)):
			}
			return
		}
	}
}

// writeFailed ends a client whose write failed: a timeout is a drop (it
// could not keep up); anything else means the client is already gone.
func (c *client) writeFailed(err error) {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		c.drop("write", err)
	}
}

func (c *client) drop(reason string, err error) {
	c.hub.nDropped.Add(1)
	c.hub.droppedBy.WithLabelValues(reason).Inc()
	c.hub.log.Debug("realtime: client dropped", "reason", reason, "remote", c.conn.RemoteAddr().String(), "err", err)
}
