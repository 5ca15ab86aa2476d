package chaos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/vacunometro/vacunometro/internal/testenv"
)

// startUp runs `vacunometro up` with its embedded services (nothing to set
// up), an admin token, and extra environment.
func startUp(t *testing.T, token string, extra ...string) *proc {
	t.Helper()
	addr := testenv.FreeAddr(t)
	env := testenv.CleanEnv(append([]string{"ADMIN_TOKEN=" + token}, extra...)...)
	return startProc(t, "up", env, addr, "up", "--addr", addr, "--data", t.TempDir(), "--web", t.TempDir())
}

// status posts body and returns the status code and the "error" message.
func status(t *testing.T, c *http.Client, method, url, contentType string, body io.Reader, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &e)
	if e.Error == "" {
		e.Error = strings.TrimSpace(string(raw))
	}
	return resp.StatusCode, e.Error
}

func recordsArray(n int, prefix string) []byte {
	recs := make([]map[string]any, n)
	for i := range recs {
		recs[i] = recordJSON(fmt.Sprintf("%s-%d", prefix, i), i)
	}
	b, _ := json.Marshal(recs)
	return b
}

// The server limits of the issue, against the running binary: body size,
// records per request, header size, a slowloris client, WebSocket origin and
// message size, and the admin endpoints.
func TestServerLimits(t *testing.T) {
	token := randomToken()
	up := startUp(t, token)
	c := &http.Client{Timeout: 60 * time.Second}

	t.Run("20 MB body gets 413", func(t *testing.T) {
		big := bytes.Repeat([]byte(" "), 20<<20)
		copy(big, `[`+string(recordsArray(1, "big")[1:]))
		code, msg := status(t, c, "POST", up.URL+"/api/records", "application/json", bytes.NewReader(big), nil)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "larger than") {
			t.Fatalf("20 MB body: %d %q, want 413 saying what the limit is", code, msg)
		}
	})
	t.Run("1001 records get 413, 1000 are accepted", func(t *testing.T) {
		code, msg := status(t, c, "POST", up.URL+"/api/records", "application/json", bytes.NewReader(recordsArray(1001, "over")), nil)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "1000") {
			t.Fatalf("1001 records: %d %q, want 413 naming the limit", code, msg)
		}
		var nd bytes.Buffer
		for i := 0; i < 1001; i++ {
			b, _ := json.Marshal(recordJSON(fmt.Sprintf("nd-%d", i), i))
			nd.Write(b)
			nd.WriteByte('\n')
		}
		if code, msg := status(t, c, "POST", up.URL+"/api/records", "application/x-ndjson", &nd, nil); code != http.StatusRequestEntityTooLarge {
			t.Fatalf("1001 NDJSON lines: %d %q, want 413", code, msg)
		}
		if code, msg := status(t, c, "POST", up.URL+"/api/records", "application/json", bytes.NewReader(recordsArray(1000, "max")), nil); code != http.StatusAccepted {
			t.Fatalf("1000 records: %d %q, want 202", code, msg)
		}
	})
	t.Run("100 KB of headers get 431", func(t *testing.T) {
		code, _ := status(t, c, "GET", up.URL+"/healthz", "", nil, map[string]string{"X-Big": strings.Repeat("a", 100<<10)})
		if code != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("100 KB header: %d, want 431", code)
		}
	})
	t.Run("slowloris clients are cut off and hold nobody", func(t *testing.T) {
		slowloris(t, up, c)
	})
	t.Run("WebSocket from another origin is refused", func(t *testing.T) {
		ws := "ws" + strings.TrimPrefix(up.URL, "http") + "/ws"
		_, resp, err := websocket.DefaultDialer.Dial(ws, http.Header{"Origin": {"https://evil.example"}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("foreign origin: err %v, response %v; want 403", err, resp)
		}
	})
	t.Run("WebSocket client frame over 512 bytes closes the connection", func(t *testing.T) {
		ws := "ws" + strings.TrimPrefix(up.URL, "http") + "/ws"
		conn, _, err := websocket.DefaultDialer.Dial(ws, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, first, err := conn.ReadMessage(); err != nil || !bytes.Contains(first, []byte(`"total"`)) {
			t.Fatalf("first frame: %v %.100s", err, first)
		}
		if err := conn.WriteMessage(websocket.TextMessage, []byte("small")); err != nil {
			t.Fatal(err)
		}
		if err := conn.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), 4096)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			_, _, err := conn.ReadMessage()
			if err == nil {
				continue // a snapshot pushed meanwhile
			}
			if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
				t.Fatalf("after a 4 KB client frame: %v, want close 1009 (message too big)", err)
			}
			return
		}
	})
	t.Run("admin endpoints need the bearer token and log who changed what", func(t *testing.T) {
		body := `{"weights":{"grpc":10,"redis":80,"pubsub":10}}`
		for _, hdr := range []map[string]string{nil, {"Authorization": "Bearer wrong"}, {"Authorization": token}, {"Authorization": "Basic " + token}} {
			if code, _ := status(t, c, "PUT", up.URL+"/api/split", "application/json", strings.NewReader(body), hdr); code != http.StatusUnauthorized {
				t.Errorf("PUT /api/split with %v: %d, want 401", hdr, code)
			}
			if code, _ := status(t, c, "POST", up.URL+"/api/admin/rebuild", "", nil, hdr); code != http.StatusUnauthorized {
				t.Errorf("POST /api/admin/rebuild with %v: %d, want 401", hdr, code)
			}
		}
		auth := map[string]string{"Authorization": "Bearer " + token, "User-Agent": "chaos-admin-check"}
		if code, msg := status(t, c, "PUT", up.URL+"/api/split", "application/json", strings.NewReader(body), auth); code != http.StatusOK {
			t.Fatalf("PUT /api/split with the token: %d %q", code, msg)
		}
		if code, msg := status(t, c, "POST", up.URL+"/api/admin/rebuild?wait=true", "", nil, auth); code != http.StatusOK {
			t.Fatalf("POST /api/admin/rebuild with the token: %d %q", code, msg)
		}
		logs := up.Logs(0)
		var changed string
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, "split changed") {
				changed = line
			}
		}
		for _, want := range []string{"grpc=10", "redis=80", "remote=127.0.0.1", "chaos-admin-check"} {
			if !strings.Contains(changed, want) {
				t.Errorf("the split change is not logged with %q: %q", want, changed)
			}
		}
		if !strings.Contains(logs, "admin request refused") {
			t.Errorf("refused admin requests are not logged")
		}
		if strings.Contains(logs, token) {
			t.Errorf("the admin token appears in the logs")
		}
	})
}

// slowloris opens connections that send their headers one byte at a time
// and never finish them. The server must close each (ReadHeaderTimeout, 5 s)
// long before the header would be complete, while other clients are served.
func slowloris(t *testing.T, up *proc, c *http.Client) {
	const conns = 40
	host := strings.TrimPrefix(up.URL, "http://")
	header := "POST /api/records HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nX-Slow: " + strings.Repeat("s", 200)
	var cut atomic.Int64
	var wg sync.WaitGroup
	cutAfter := make([]time.Duration, conns)
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", host)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer conn.Close()
			began := time.Now()
			// One byte every 200 ms: the header would take 50 s to complete.
			for k := 0; k < len(header); k++ {
				if _, err := conn.Write([]byte{header[k]}); err != nil {
					break
				}
				_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				var b [1]byte
				if _, err := conn.Read(b[:]); err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						continue // still open
					}
					break // closed by the server (EOF or reset)
				}
				break // the server answered (an error status): also cut off
			}
			if d := time.Since(began); d < 45*time.Second {
				cut.Add(1)
				cutAfter[i] = d
			}
		}()
	}
	// Meanwhile, ordinary clients are served.
	served := 0
	for time.Since(start) < 3*time.Second {
		code, msg := status(t, c, "POST", up.URL+"/", "application/json", bytes.NewReader(mustJSON(recordJSON("", served))), nil)
		if code != http.StatusAccepted {
			t.Errorf("an ordinary client during the slowloris got %d %q", code, msg)
			break
		}
		served++
	}
	wg.Wait()
	if int(cut.Load()) != conns {
		t.Fatalf("%d of %d slow clients were cut off before finishing their header", cut.Load(), conns)
	}
	var longest time.Duration
	for _, d := range cutAfter {
		longest = max(longest, d)
	}
	fmt.Printf("LIMIT slowloris: %d slow clients cut off after at most %v (the header would have taken %v); %d ordinary requests served meanwhile\n",
		conns, longest.Round(100*time.Millisecond), time.Duration(len(header))*200*time.Millisecond, served)
	if served == 0 {
		t.Fatalf("no ordinary request was served during the slowloris")
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// The WebSocket tier refuses connections over its cap (10,000) with a 503
// and a JSON error, and takes a new one when a client leaves. It holds
// 10,000 connections (a few seconds here), so it needs an open-file limit
// above 10,000 for the test and for the server.
func TestWebSocketConnectionCap(t *testing.T) {
	const capConns = 10000 // realtime.DefaultMaxConns; the binary has no flag for it
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < capConns+1000 {
		lim.Cur = min(lim.Max, capConns+5000)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < capConns+1000 {
		testenv.Missing(t, "the open-file limit is %d; this test needs %d (ulimit -n)", lim.Cur, capConns+1000)
	}
	up := startUp(t, randomToken())
	ws := "ws" + strings.TrimPrefix(up.URL, "http") + "/ws"
	dialer := &websocket.Dialer{HandshakeTimeout: 60 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 256}
	conns := make([]*websocket.Conn, capConns)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var failed atomic.Int64
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conn, _, err := dialer.Dial(ws, nil)
			if err != nil {
				failed.Add(1)
				return
			}
			conns[i] = conn
			// Read in the background so that pings are answered.
			go func() {
				for {
					if _, _, err := conn.ReadMessage(); err != nil {
						return
					}
				}
			}()
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if failed.Load() > 0 {
		t.Fatalf("%d of the first %d connections failed", failed.Load(), capConns)
	}
	_, resp, err := dialer.Dial(ws, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("connection %d: err %v resp %v; want 503", capConns+1, err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "too many connections") {
		t.Fatalf("503 body %q does not say why", body)
	}
	conns[0].Close()
	conns[0] = nil
	var again *websocket.Conn
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if again, _, err = dialer.Dial(ws, nil); err == nil {
			break
		}
	}
	if again == nil {
		t.Fatalf("no connection accepted after one left: %v", err)
	}
	again.Close()
	fmt.Printf("LIMIT websocket: %d connections held, the next refused with 503 %q, one more taken after one left\n", capConns, strings.TrimSpace(string(body)))
}
