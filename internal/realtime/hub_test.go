package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Clients connecting while the data changes all end on the same latest
// snapshot, and none ever receives an older snapshot after a newer one.
func TestManyClientsGetTheSameLatestSnapshot(t *testing.T) {
	src := newMemSource(0)
	h, url := startHub(t, Config{Source: src.source, MaxPerSecond: 50})

	const nClients, last = 60, 40
	changing := make(chan struct{})
	go func() {
		defer close(changing)
		for i := 1; i <= last; i++ {
			src.set(i)
			h.Notify()
			time.Sleep(5 * time.Millisecond)
		}
	}()

	clients := make([]*wsClient, nClients)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var dialErrs []error
	for i := range clients {
		wg.Go(func() {
			c, err := dialReader(url)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				dialErrs = append(dialErrs, err)
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	if len(dialErrs) > 0 {
		t.Fatalf("%d of %d dials failed; first: %v", len(dialErrs), nClients, dialErrs[0])
	}
	<-changing

	for i, c := range clients {
		t.Cleanup(func() { _ = c.conn.Close() })
		seen := c.until(t, last)
		for j := 1; j < len(seen); j++ {
			if seen[j] <= seen[j-1] {
				t.Fatalf("client %d got snapshots out of order: %v", i, seen)
			}
		}
	}
	if got := h.Clients(); got != nClients {
		t.Errorf("Clients() = %d, want %d", got, nClients)
	}
	// A client arriving now gets the latest snapshot at once.
	if s := readAll(t, url, 0).next(t); s != last {
		t.Errorf("late client's first frame is seq %d, want %d", s, last)
	}
}

// dialReader is readAll for use off the test goroutine.
func dialReader(url string) (*wsClient, error) {
	d := websocket.Dialer{HandshakeTimeout: waitFor}
	conn, _, err := d.Dial(url, nil)
	if err != nil {
		return nil, err
	}
	c := &wsClient{conn: conn, frames: make(chan []byte, 1000), err: make(chan error, 1)}
	go func() {
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				c.err <- err
				return
			}
			c.frames <- b
		}
	}()
	return c, nil
}

// A slow client skips frames and a client that never reads is dropped, while
// the fast clients receive every update, in order.
func TestSlowAndSilentClientsDoNotDelayOthers(t *testing.T) {
	src := newMemSource(0)
	h, url := startHub(t, Config{
		Source:          src.source,
		MaxPerSecond:    20,
		WriteTimeout:    500 * time.Millisecond,
		PingInterval:    100 * time.Millisecond,
		PongWait:        time.Second,
		RefreshInterval: time.Hour,
	})

	fast := []*wsClient{readAll(t, url, 0), readAll(t, url, 0), readAll(t, url, 0)}
	slow := readAll(t, url, 500*time.Millisecond) // answers pings only between frames
	silent := dial(t, url, nil)                   // never reads: answers no ping, drains no frame
	for _, c := range append(fast, slow) {
		if s := c.next(t); s != 0 {
			t.Fatalf("first frame seq %d, want 0", s)
		}
	}

	const changes = 10
	for i := 1; i <= changes; i++ {
		src.set(i)
		h.Notify()
		// Well apart from each other (the coalescing interval is 50 ms), so
		// that each is its own push.
		time.Sleep(150 * time.Millisecond)
	}

	for i, c := range fast {
		seen := c.until(t, changes)
		if len(seen) != changes {
			t.Errorf("fast client %d got %v, want every update 1..%d", i, seen, changes)
		}
	}
	// The slow client reads a backlog at 2 frames/s and answers pings only
	// between frames: it either catches up with the last state or, when its
	// backlog outgrows PongWait, is dropped. Either way the fast ones above
	// were not held back.
	var slowSeen []int
	slowDropped := false
	for !slowDropped {
		select {
		case b := <-slow.frames:
			slowSeen = append(slowSeen, seqOf(t, b))
		case err := <-slow.err:
			slowDropped = true
			t.Logf("slow client dropped after %v: %v", slowSeen, err)
		case <-time.After(waitFor):
			t.Fatalf("slow client neither caught up nor was dropped; saw %v", slowSeen)
		}
		if len(slowSeen) > 0 && slowSeen[len(slowSeen)-1] == changes {
			t.Logf("slow client caught up: %v", slowSeen)
			break
		}
	}

	want := len(fast)
	if !slowDropped {
		want++
	}
	eventually(t, "the silent client to be dropped", func() bool { return h.Clients() == want })
	if n := sumOf(t, h.m.droppedBy); n < 1 {
		t.Errorf("clients_dropped_total = %v, want >= 1", n)
	}
	// The silent client finds its connection closed by the server, not merely idle.
	_ = silent.SetReadDeadline(time.Now().Add(waitFor))
	for {
		_, _, err := silent.ReadMessage()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("silent client was not disconnected: %v", err)
		}
		break
	}
}

// A burst of 100 notices in about 100 ms yields a handful of pushes, never
// more than MaxPerSecond allows, and always ends on the last state.
func TestCoalescing(t *testing.T) {
	src := newMemSource(0)
	const perSecond = 10
	h, url := startHub(t, Config{Source: src.source, MaxPerSecond: perSecond, RefreshInterval: time.Hour})
	c := readAll(t, url, 0)
	if s := c.next(t); s != 0 {
		t.Fatalf("first frame seq %d, want 0", s)
	}

	start := time.Now()
	for i := 1; i <= 100; i++ {
		src.set(i)
		h.Notify()
		time.Sleep(time.Millisecond)
	}
	burst := time.Since(start)
	seen := c.until(t, 100)
	// What the rate allows during the burst (a bucket of burstTokens reads)
	// plus the trailing read after it.
	limit := int(burstTokens+burst.Seconds()*perSecond) + 1
	t.Logf("burst of 100 notices over %v -> %d pushes %v", burst.Round(time.Millisecond), len(seen), seen)
	if len(seen) > limit {
		t.Errorf("%d pushes for a %v burst; at most %d expected at %d/s", len(seen), burst, limit, perSecond)
	}

	t.Run("unchanged snapshot is not pushed", func(t *testing.T) {
		before := src.calls.Load()
		for range 5 {
			h.Notify()
		}
		eventually(t, "the notices to be served", func() bool { return src.calls.Load() > before })
		src.set(101)
		h.Notify()
		if s := c.next(t); s != 101 {
			t.Errorf("next frame after unchanged notices is seq %d, want 101 (no repeat of 100)", s)
		}
	})
}

func TestOriginCheck(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		origin  string // "SAME" is replaced by the server's own origin
		want    int
	}{
		{"no Origin header (not a browser)", nil, "", http.StatusSwitchingProtocols},
		{"same host by default", nil, "SAME", http.StatusSwitchingProtocols},
		{"other host refused by default", nil, "https://evil.example", http.StatusForbidden},
		{"listed origin", []string{"https://x.example"}, "https://x.example", http.StatusSwitchingProtocols},
		{"listed origin, other case and trailing slash", []string{"https://X.example/"}, "https://x.EXAMPLE", http.StatusSwitchingProtocols},
		{"unlisted origin", []string{"https://x.example"}, "https://y.example", http.StatusForbidden},
		{"same host is not implied by a list", []string{"https://x.example"}, "SAME", http.StatusForbidden},
		{"wildcard", []string{"*"}, "https://y.example", http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newMemSource(7)
			_, url := startHub(t, Config{Source: src.source, AllowedOrigins: tt.allowed})
			hdr := http.Header{}
			if tt.origin == "SAME" {
				hdr.Set("Origin", "http"+strings.TrimPrefix(url, "ws"))
				hdr.Set("Origin", strings.TrimSuffix(hdr.Get("Origin"), "/"))
			} else if tt.origin != "" {
				hdr.Set("Origin", tt.origin)
			}
			conn, resp, err := websocket.DefaultDialer.Dial(url, hdr)
			if conn != nil {
				defer conn.Close()
			}
			if resp == nil {
				t.Fatalf("no HTTP response: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d (err %v)", resp.StatusCode, tt.want, err)
			}
			if tt.want == http.StatusForbidden {
				assertJSONError(t, resp)
				return
			}
			_, b, err := conn.ReadMessage()
			if err != nil || seqOf(t, b) != 7 {
				t.Fatalf("first frame %q, %v; want the snapshot", b, err)
			}
		})
	}
}

func assertJSONError(t *testing.T, resp *http.Response) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var body struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil || body.Error == "" {
		t.Errorf("body %q is not a JSON error: %v", b, err)
	}
}

func TestConnectionCap(t *testing.T) {
	src := newMemSource(1)
	h, url := startHub(t, Config{Source: src.source, MaxConns: 2})
	a := readAll(t, url, 0)
	b := readAll(t, url, 0)
	a.next(t)
	b.next(t)

	conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err == nil {
		conn.Close()
		t.Fatal("third connection accepted over MaxConns=2")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third connection: %v, response %v; want HTTP 503", err, resp)
	}
	assertJSONError(t, resp)

	// A slot frees when a client leaves.
	_ = a.conn.Close()
	eventually(t, "a slot to free", func() bool {
		conn, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})
	if sumOf(t, h.m.rejectedBy) == 0 {
		t.Error("rejected_total = 0 after a refusal")
	}
}

func TestCloseSendsGoingAway(t *testing.T) {
	src := newMemSource(1)
	h, url := startHub(t, Config{Source: src.source})
	c := readAll(t, url, 0)
	c.next(t)
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-c.err:
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Fatalf("client ended with %v, want a going-away close frame", err)
		}
	case <-time.After(waitFor):
		t.Fatal("client not closed")
	}
	if n := h.Clients(); n != 0 {
		t.Errorf("Clients() = %d after Close", n)
	}
	_, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Close: %v, %v; want HTTP 503", err, resp)
	}
}

func TestNoSnapshotRefusesWith503(t *testing.T) {
	failing := func(context.Context) (Snapshot, error) { return Snapshot{}, errors.New("store unreachable") }
	_, url := startHub(t, Config{Source: failing})
	_, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial: %v, %v; want HTTP 503", err, resp)
	}
	assertJSONError(t, resp)
}

// A snapshot whose Key did not change is not pushed, even when its Data
// did (a generation time changes on every read).
func TestSameKeyIsNotPushed(t *testing.T) {
	tests := []struct {
		name       string
		a, b       Snapshot
		pushSecond bool
	}{
		{"same key, other data", Snapshot{Data: []byte(`{"total":1,"at":"a"}`), Key: []byte("1")}, Snapshot{Data: []byte(`{"total":1,"at":"b"}`), Key: []byte("1")}, false},
		{"other key", Snapshot{Data: []byte(`{"total":1}`), Key: []byte("1")}, Snapshot{Data: []byte(`{"total":2}`), Key: []byte("2")}, true},
		{"no key, same data", Snapshot{Data: []byte(`{"total":1}`)}, Snapshot{Data: []byte(`{"total":1}`)}, false},
		{"no key, other data", Snapshot{Data: []byte(`{"total":1}`)}, Snapshot{Data: []byte(`{"total":2}`)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := tt.a
			h, err := New(Config{Source: func(context.Context) (Snapshot, error) { return next, nil }})
			if err != nil {
				t.Fatal(err)
			}
			if pushed, err := h.fetch(context.Background(), false); err != nil || !pushed {
				t.Fatalf("first fetch: pushed %v, %v", pushed, err)
			}
			next = tt.b
			pushed, err := h.fetch(context.Background(), false)
			if err != nil || pushed != tt.pushSecond {
				t.Fatalf("second fetch: pushed %v (%v), want %v", pushed, err, tt.pushSecond)
			}
			if got, want := sumOf(t, h.m.broadcasts), map[bool]float64{true: 2, false: 1}[tt.pushSecond]; got != want {
				t.Fatalf("broadcasts_total = %v, want %v", got, want)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	src := newMemSource(1)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no source", Config{}},
		{"ping not shorter than pong wait", Config{Source: src.source, PingInterval: time.Second, PongWait: time.Second}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("%s: New accepted an invalid Config", tt.name)
		}
	}
}

// A client's queue keeps only the latest frames: older ones are skipped, the
// newest is never lost, and enqueueing never blocks.
func TestClientQueueKeepsTheLatest(t *testing.T) {
	for _, size := range []int{1, 2, 3} {
		h := &Hub{}
		if err := h.m.init(nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		c := &client{hub: h, send: make(chan *frame, size)}
		frames := make([]*frame, 6)
		for i := range frames {
			frames[i] = &frame{key: encodeSnap(i)}
			c.enqueue(frames[i])
		}
		if got, want := len(c.send), size; got != want {
			t.Fatalf("queue %d: holds %d frames, want %d", size, got, want)
		}
		for i := len(frames) - size; i < len(frames); i++ {
			if f := <-c.send; f != frames[i] {
				t.Errorf("queue %d: got frame %s, want %s", size, f.key, frames[i].key)
			}
		}
		if got, want := sumOf(t, h.m.skipped), float64(len(frames)-size); got != want {
			t.Errorf("queue %d: skipped %v, want %v", size, got, want)
		}
	}
}

func TestBucket(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name  string
		takes []int // ms of each take
		waits []time.Duration
	}{
		{"first read at once, then one per 100 ms", []int{0, 10, 20},
			[]time.Duration{0, 65 * time.Millisecond, 55 * time.Millisecond}},
		{"steady 10/s with a notice 20 ms early: served at once", []int{0, 100, 200, 280, 400},
			[]time.Duration{0, 0, 0, 0, 0}},
		{"sustained stream: no more than the rate", []int{0, 75, 175, 275},
			[]time.Duration{0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBucket(10, t0)
			for i, ms := range tt.takes {
				got := b.take(at(ms)).Round(time.Millisecond)
				if got != tt.waits[i] {
					t.Errorf("take %d at %d ms: wait %v, want %v", i, ms, got, tt.waits[i])
				}
			}
		})
	}
}

// A client that reads slower than snapshots change (over a real socket with
// small buffers, as on a slow network) skips to the latest snapshot instead
// of falling ever further behind, and stays connected.
func TestSlowClientSkipsToTheLatest(t *testing.T) {
	const size = 256 << 10 // each frame overflows the socket buffers
	var cur atomic.Pointer[[]byte]
	set := func(seq int) {
		b, _ := json.Marshal(snap{Seq: seq, Pad: strings.Repeat("x", size)})
		cur.Store(&b)
	}
	set(0)
	h, url := startHub(t, Config{
		Source:          func(context.Context) (Snapshot, error) { return Snapshot{Data: *cur.Load()}, nil },
		MaxPerSecond:    50,
		SendBuffer:      16 << 10,
		WriteTimeout:    5 * time.Second,
		PingInterval:    time.Second,
		PongWait:        10 * time.Second,
		RefreshInterval: time.Hour,
	})
	d := websocket.Dialer{
		HandshakeTimeout: waitFor,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(16 << 10)
			}
			return c, err
		},
	}
	conn, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	slow := &wsClient{conn: conn, frames: make(chan []byte, 100), err: make(chan error, 1)}
	go func() {
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				slow.err <- err
				return
			}
			slow.frames <- b
			time.Sleep(200 * time.Millisecond)
		}
	}()
	if s := slow.next(t); s != 0 {
		t.Fatalf("first frame seq %d, want 0", s)
	}

	const changes = 20
	for i := 1; i <= changes; i++ {
		set(i)
		h.Notify()
		time.Sleep(30 * time.Millisecond)
	}
	seen := slow.until(t, changes)
	t.Logf("slow client saw %v of %d changes", seen, changes)
	if len(seen) >= changes {
		t.Errorf("slow client saw every change %v; want it to skip to the latest", seen)
	}
	if skipped, dropped, n := sumOf(t, h.m.skipped), sumOf(t, h.m.droppedBy), h.Clients(); skipped == 0 || dropped != 0 || n != 1 {
		t.Errorf("frames skipped %v, clients dropped %v, clients %d; want frames skipped, no client dropped, the client still connected", skipped, dropped, n)
	}
}
