package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/split"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func do(t *testing.T, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestBodyEncodings(t *testing.T) {
	g := &memRoute{name: "grpc"}
	srv := newServer(t, split.Weights{"grpc": 1}, true, g)
	bomb := gz(t, bytes.Repeat([]byte(" "), DefaultMaxBody+1)) // a few KiB that inflate past the limit
	tests := []struct {
		name, enc, ct string
		body          []byte
		code          int
		n             int
	}{
		{"gzip", "gzip", "application/json", gz(t, []byte(rec)), 202, 1},
		{"gzip ndjson", "gzip", "application/x-ndjson", gz(t, []byte(rec+"\n"+rec)), 202, 2},
		{"gzip bomb", "gzip", "application/json", bomb, 413, 0},
		{"not gzip", "gzip", "application/json", []byte(rec), 400, 0},
		{"truncated gzip", "gzip", "application/json", gz(t, []byte(rec))[:20], 400, 0},
		{"br", "br", "application/json", []byte(rec), 415, 0},
		{"json-seq", "", "application/json-seq", []byte("\x1e" + rec + "\n\x1e" + rec + "\n"), 202, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.body) >= DefaultMaxBody {
				t.Fatalf("the %s body is %d bytes: not a decompression test", tt.name, len(tt.body))
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/records", bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.ct)
			if tt.enc != "" {
				req.Header.Set("Content-Encoding", tt.enc)
			}
			code, _, body := do(t, req)
			if code != tt.code {
				t.Fatalf("%d %s, want %d", code, body, tt.code)
			}
			if tt.code == 202 && !strings.Contains(body, `"accepted":`+string(rune('0'+tt.n))) {
				t.Fatalf("answer %s, want %d accepted", body, tt.n)
			}
		})
	}
}

// blockRoute holds every delivery until released, so that requests stay in
// flight.
type blockRoute struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockRoute) Name() string { return "grpc" }
func (b *blockRoute) Close() error { return nil }
func (b *blockRoute) Deliver(ctx context.Context, _ []record.Record) error {
	b.entered <- struct{}{}
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestBodiesInFlightShareABudget(t *testing.T) {
	br := &blockRoute{entered: make(chan struct{}, 10), release: make(chan struct{})}
	s := New(Config{
		Auth:    anyProducer{},
		Decoder: &record.Decoder{Catalog: catalog.Default(), IDs: &record.IDGenerator{}},
		Routes:  map[string]route.Route{"grpc": br}, Splitter: split.New(split.Weights{"grpc": 1}),
		// A chunked body reserves the limit (and a byte) at first: two fit.
		MaxBody: 4096, BodyBudget: 3 * 4096,
		Metrics: metrics.New(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func() (int, http.Header) {
		// Chunked (no Content-Length): each reserves the whole limit.
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/records", io.MultiReader(strings.NewReader(rec)))
		req.ContentLength = -1
		code, h, body := do(t, req)
		if code == http.StatusServiceUnavailable && !strings.Contains(body, "in flight") {
			t.Errorf("503 for another reason: %s", body)
		}
		return code, h
	}
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); c, _ := post(); codes <- c }()
	}
	for range 2 {
		select {
		case <-br.entered:
		case <-time.After(10 * time.Second):
			close(br.release)
			t.Fatal("two requests within the budget did not both reach the route")
		}
	}
	code, h := post()
	if len(br.entered) != 0 {
		t.Error("the request over the budget reached the route")
	}
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("third body over the budget: %d (Retry-After %q), want 503 with Retry-After", code, h.Get("Retry-After"))
	}
	close(br.release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 202 {
			t.Fatalf("a request within the budget got %d", c)
		}
	}
	if code, _ := post(); code != 202 {
		t.Fatalf("after the others finished: %d, want 202 (budget not returned?)", code)
	}
	if n := s.budget.InUse(); n != 0 {
		t.Fatalf("%d bytes still reserved", n)
	}
}

func TestSplitPutErrorsAreClear(t *testing.T) {
	g, r := &memRoute{name: "grpc"}, &memRoute{name: "redis"}
	srv := newServer(t, split.Weights{"grpc": 1, "redis": 0}, false, g, r)
	for _, tt := range []struct {
		body, want string
		code       int
	}{
		{`{"weights":{"grpc":1.5}}`, `the weight of "grpc" must be a whole number`, 422},
		{`{"weights":{"grpc":"5"}}`, `the weight of "grpc" must be a whole number from 0 to 1000000, got "5" (a string`, 422},
		{`{"weights":{"grpc":5,"grpc":0,"redis":1}}`, `"grpc" given twice`, 422},
		{`{"weights":{"grpc":5},"weights":{"redis":5}}`, `"weights" given twice`, 422},
		{`{"grpc":2.0}`, `the weight of "grpc" must be a whole number`, 422},
		{`{"weights":{"grpc":3,"redis":1}}`, `"grpc":3`, 200},
	} {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/api/split", strings.NewReader(tt.body))
		req.Header.Set("Authorization", "Bearer tok")
		code, _, raw := do(t, req)
		var out struct{ Error string }
		_ = json.Unmarshal([]byte(raw), &out)
		body := out.Error
		if code == 200 {
			body = raw
		}
		if code != tt.code || !strings.Contains(body, tt.want) || strings.Contains(body, "unmarshal") {
			t.Errorf("PUT %s: %d %s; want %d naming %q", tt.body, code, body, tt.code, tt.want)
		}
	}
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	g, r := &memRoute{name: "grpc"}, &memRoute{name: "redis"}
	srv := newServer(t, split.Weights{"grpc": 1, "redis": 0}, false, g, r)
	for _, auth := range []string{"Bearer tok", "bearer tok", "BEARER tok", "bEaReR  tok"} {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/api/split", strings.NewReader(`{"weights":{"grpc":1}}`))
		req.Header.Set("Authorization", auth)
		if code, _, body := do(t, req); code != 200 {
			t.Errorf("Authorization %q: %d %s, want 200", auth, code, body)
		}
	}
	for _, auth := range []string{"Bearertok", "Basic tok", "Bearer tok2", "tok"} {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/api/split", strings.NewReader(`{"weights":{"grpc":1}}`))
		req.Header.Set("Authorization", auth)
		if code, _, _ := do(t, req); code != 401 {
			t.Errorf("Authorization %q: %d, want 401", auth, code)
		}
	}
}

func TestRefusedAdminRequestsAreLoggedSparingly(t *testing.T) {
	var logs testenv.SyncBuffer
	s := New(Config{
		Auth:    anyProducer{},
		Decoder: &record.Decoder{Catalog: catalog.Default(), IDs: &record.IDGenerator{}},
		Routes:  map[string]route.Route{"grpc": &memRoute{name: "grpc"}}, Splitter: split.New(split.Weights{"grpc": 1}),
		Metrics: metrics.New(), Log: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	mux := http.NewServeMux()
	s.Register(mux)
	withSplit(mux, s, s.cfg.Splitter, nil, s.cfg.Log)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for range 200 {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/api/split", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer guess")
		if code, _, _ := do(t, req); code != 401 {
			t.Fatalf("refused request answered %d", code)
		}
	}
	n := strings.Count(logs.String(), "admin request refused")
	if n < 1 || n > 2 {
		t.Fatalf("200 refused requests logged %d WARN lines, want 1 or 2 (rate-limited):\n%s", n, logs.String())
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(logs.String(), "\n", 2)[0]), &line); err != nil || line["level"] != "WARN" {
		t.Fatalf("first line %v (%v), want a WARN", line, err)
	}
}
