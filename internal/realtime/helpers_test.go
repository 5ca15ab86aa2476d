package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
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

// redisServer is a real redis-server started for one test on a free port.
type redisServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
	exit chan struct{}
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is not on PATH (required in CI: apt-get install -y redis-server): %v", err)
		}
		t.Skipf("redis-server is not on PATH: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	r := &redisServer{t: t, port: port, dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *redisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	r.cmd.Stdout, r.cmd.Stderr = io.Discard, io.Discard
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.exit = make(chan struct{})
	go func(cmd *exec.Cmd, exit chan struct{}) { _ = cmd.Wait(); close(exit) }(r.cmd, r.exit)
	c := redis.NewClient(&redis.Options{Addr: r.addr()})
	defer c.Close()
	deadline := time.Now().Add(waitFor)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		select {
		case <-r.exit:
			r.t.Fatalf("redis-server on port %d exited at start", r.port)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on port %d not answering: %v", r.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the server abruptly (SIGKILL) and waits for it to exit.
func (r *redisServer) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.exit
	r.cmd = nil
}

func (r *redisServer) stop() { r.kill() }

func (r *redisServer) client(t *testing.T) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
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
