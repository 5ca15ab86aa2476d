package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// waitFor is how long a test waits for something that should happen; it is a
// safety net against hangs, not a timing assertion.
const waitFor = 15 * time.Second

// snap is the test snapshot: a sequence number and some padding.
type snap struct {
	Seq int    `json:"seq"`
	Pad string `json:"pad,omitempty"`
}

func encodeSnap(seq int) []byte {
	b, _ := json.Marshal(snap{Seq: seq, Pad: strings.Repeat("x", 200)})
	return b
}

func seqOf(t *testing.T, b []byte) int {
	t.Helper()
	var s snap
	if err := json.Unmarshal(b, &s); err != nil {
		t.Errorf("frame is not a snapshot: %v: %q", err, b)
		return -1
	}
	return s.Seq
}

// memSource is an in-memory Source whose state the test changes.
type memSource struct {
	cur   atomic.Pointer[[]byte]
	calls atomic.Int64
}

func newMemSource(seq int) *memSource {
	s := &memSource{}
	s.set(seq)
	return s
}

func (s *memSource) set(seq int) {
	b := encodeSnap(seq)
	s.cur.Store(&b)
}

func (s *memSource) source(context.Context) (Snapshot, error) {
	s.calls.Add(1)
	return Snapshot{Data: *s.cur.Load()}, nil
}

// sumOf is a counter's value summed over its labels.
func sumOf(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	var n float64
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		n += pb.GetCounter().GetValue()
	}
	return n
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startHub starts a Hub with cfg (Logger defaulted) and an HTTP server for it,
// both stopped at the end of the test. It returns the ws:// URL.
func startHub(t *testing.T, cfg Config) (*Hub, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		cancel()
		<-done
		_ = h.Close()
		srv.Close()
	})
	return h, "ws" + strings.TrimPrefix(srv.URL, "http")
}

// wsClient is a test client that reads every frame into a channel.
type wsClient struct {
	conn   *websocket.Conn
	frames chan []byte
	err    chan error // the read error that ended the client
}

func dial(t *testing.T, url string, hdr http.Header) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitFor}
	c, resp, err := d.Dial(url, hdr)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// readAll starts a client reading every frame; delay is a pause after each
// frame (a slow client).
func readAll(t *testing.T, url string, delay time.Duration) *wsClient {
	t.Helper()
	c := &wsClient{conn: dial(t, url, nil), frames: make(chan []byte, 1000), err: make(chan error, 1)}
	go func() {
		for {
			_, b, err := c.conn.ReadMessage()
			if err != nil {
				c.err <- err
				return
			}
			c.frames <- b
			time.Sleep(delay)
		}
	}()
	return c
}

// next returns the next frame's sequence number.
func (c *wsClient) next(t *testing.T) int {
	t.Helper()
	select {
	case b := <-c.frames:
		return seqOf(t, b)
	case err := <-c.err:
		t.Fatalf("client ended before the next frame: %v", err)
	case <-time.After(waitFor):
		t.Fatalf("no frame within %v", waitFor)
	}
	return -1
}

// until reads frames until one has sequence number want and returns every
// sequence number seen, in order.
func (c *wsClient) until(t *testing.T, want int) []int {
	t.Helper()
	var seen []int
	for {
		s := c.next(t)
		seen = append(seen, s)
		if s == want {
			return seen
		}
		if s > want {
			t.Fatalf("got seq %d after %v while waiting for %d", s, seen, want)
		}
	}
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitFor, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// redisSource reads the snapshot from a Redis key, as production does.
func redisSource(c redis.UniversalClient, key string) Source {
	return func(ctx context.Context) (Snapshot, error) {
		b, err := c.Get(ctx, key).Bytes()
		if err != nil {
			return Snapshot{}, fmt.Errorf("get %s: %w", key, err)
		}
		return Snapshot{Data: b}, nil
	}
}

// publish stores a new snapshot under key and announces it, as the sink does.
func publish(t *testing.T, c *redis.Client, key string, seq int) {
	t.Helper()
	ctx := context.Background()
	if err := c.Set(ctx, key, encodeSnap(seq), 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	if err := c.Publish(ctx, DefaultChannel, strconv.Itoa(seq)).Err(); err != nil {
		t.Fatalf("publish: %v", err)
	}
}
