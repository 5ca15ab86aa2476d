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
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// frame is one prepared snapshot.
type frame struct {
	pm  *websocket.PreparedMessage
	key []byte // Snapshot.key() of what it carries
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

	m            hubMetrics
	subscribedOK atomic.Bool
	nSubscribes  atomic.Int64  // confirmed subscriptions (1 + re-subscriptions)
	healthEvery  time.Duration // quiet time on the subscription before a PING
}

// New validates cfg, applies defaults and returns a Hub.
func New(cfg Config) (*Hub, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
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
	if err := h.m.init(cfg.Registerer, h.Clients, h.subscribedOK.Load); err != nil {
		return nil, err
	}
	return h, nil
}

// Clients returns the number of connected clients.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
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
		h.m.lag.Observe(time.Since(time.Unix(0, noticed)).Seconds())
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
	snap, err := h.cfg.Source(fctx)
	cancel()
	if err != nil {
		h.m.sourceErrors.Inc()
		return false, fmt.Errorf("snapshot source: %w", err)
	}
	h.mu.Lock()
	cur := h.current
	h.mu.Unlock()
	if cur != nil && bytes.Equal(cur.key, snap.key()) {
		return false, nil
	}
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, snap.Data)
	if err != nil {
		return false, fmt.Errorf("prepare snapshot frame: %w", err)
	}
	f := &frame{pm: pm, key: snap.key()}
	h.mu.Lock()
	h.current = f
	for c := range h.clients {
		c.enqueue(f)
	}
	h.mu.Unlock()
	h.m.broadcasts.Inc()
	return true, nil
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
	if h.current != nil {
		c.enqueue(h.current)
	}
	return true
}

func (h *Hub) unregister(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

func (h *Hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
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
