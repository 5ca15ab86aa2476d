package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/api"
	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/producer"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/split"
)

// memRoute is a route that keeps what it was given, or fails.
type memRoute struct {
	name string
	mu   sync.Mutex
	got  []record.Record
	fail error
	hang bool // block until the caller gives up
}

func (m *memRoute) Name() string { return m.name }
func (m *memRoute) Close() error { return nil }
func (m *memRoute) Deliver(ctx context.Context, recs []record.Record) error {
	if m.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.got = append(m.got, recs...)
	return nil
}

func newServer(t *testing.T, weights split.Weights, failover bool, routes ...*memRoute) *httptest.Server {
	return newServerTimeout(t, weights, failover, 0, routes...)
}

func newServerTimeout(t *testing.T, weights split.Weights, failover bool, attempt time.Duration, routes ...*memRoute) *httptest.Server {
	rs := map[string]route.Route{}
	for _, r := range routes {
		rs[r.name] = r
	}
	return newServerWith(t, weights, failover, attempt, rs)
}

func newServerWith(t *testing.T, weights split.Weights, failover bool, attempt time.Duration, rs map[string]route.Route) *httptest.Server {
	sp := split.New(weights)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(Config{
		Auth:    anyProducer{},
		Decoder: &record.Decoder{Catalog: catalog.Default(), IDs: &record.IDGenerator{}},
		Routes:  rs, Splitter: sp, Failover: failover,
		Metrics: metrics.New(), Log: log, AttemptTimeout: attempt,
	})
	mux := http.NewServeMux()
	s.Register(mux)
	withSplit(mux, s, sp, nil, log)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

const rec = `{"name":"Ana Lopez","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":2}`

func postRec(t *testing.T, url, ct, body string) (*http.Response, map[string]any) {
	resp, err := http.Post(url, ct, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

func TestAcceptedOnlyWhenTheRouteTookTheRecords(t *testing.T) {
	g := &memRoute{name: "grpc"}
	srv := newServer(t, split.Weights{"grpc": 1}, true, g)
	resp, out := postRec(t, srv.URL+"/api/records", "application/json", "["+rec+","+rec+"]")
	if resp.StatusCode != 202 || out["accepted"] != 2.0 || out["route"] != "grpc" {
		t.Fatalf("%d %v", resp.StatusCode, out)
	}
	ids := out["ids"].([]any)
	if len(g.got) != 2 || g.got[0].ID != ids[0] || g.got[1].ID != ids[1] || g.got[0].Route != "grpc" {
		t.Fatalf("route got %+v, answer ids %v", g.got, ids)
	}
}

func TestFailoverToAnotherRouteWithWeight(t *testing.T) {
	g := &memRoute{name: "grpc", fail: errors.New("down")}
	r := &memRoute{name: "redis"}
	p := &memRoute{name: "pubsub"}
	srv := newServer(t, split.Weights{"grpc": 1, "redis": 1, "pubsub": 0}, true, g, r, p)
	for i := 0; i < 6; i++ {
		resp, out := postRec(t, srv.URL+"/", "application/json", rec)
		if resp.StatusCode != 202 || out["route"] != "redis" {
			t.Fatalf("request %d: %d %v", i, resp.StatusCode, out)
		}
	}
	if len(r.got) != 6 || len(p.got) != 0 {
		t.Fatalf("redis got %d, pubsub (weight 0) got %d", len(r.got), len(p.got))
	}
}

func TestNoRouteTookThemIs503WithRetryAfter(t *testing.T) {
	g := &memRoute{name: "grpc", fail: errors.New("down")}
	srv := newServer(t, split.Weights{"grpc": 1}, true, g)
	resp, out := postRec(t, srv.URL+"/", "application/json", rec)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || out["error"] == "" {
		t.Fatalf("%d %v", resp.StatusCode, out)
	}
}

func TestWithoutFailoverTheChosenRouteAnswers(t *testing.T) {
	g := &memRoute{name: "grpc", fail: errors.New("down")}
	r := &memRoute{name: "redis"}
	srv := newServer(t, split.Weights{"grpc": 1, "redis": 0}, false, g, r)
	resp, _ := postRec(t, srv.URL+"/", "application/json", rec)
	if resp.StatusCode != 503 || len(r.got) != 0 {
		t.Fatalf("%d, redis got %d", resp.StatusCode, len(r.got))
	}
}

func TestContentTypes(t *testing.T) {
	g := &memRoute{name: "grpc"}
	srv := newServer(t, split.Weights{"grpc": 1}, true, g)
	tests := []struct {
		ct   string
		code int
	}{
		{"application/json", 202}, {"application/json; charset=utf-8", 202}, {"application/x-ndjson", 202},
		{"", 202}, {"text/plain", 415}, {"multipart/form-data; boundary=x", 415}, {"garbage;;", 415},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/records", strings.NewReader(rec))
		if tt.ct != "" {
			req.Header.Set("Content-Type", tt.ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("Content-Type %q: %d, want %d", tt.ct, resp.StatusCode, tt.code)
		}
	}
}

func TestAHangingRouteGivesWayToTheNext(t *testing.T) {
	g := &memRoute{name: "grpc", hang: true}
	r := &memRoute{name: "redis"}
	srv2 := newServerTimeout(t, split.Weights{"grpc": 1000, "redis": 1}, true, 100*time.Millisecond, g, r)
	start := time.Now()
	resp, out := postRec(t, srv2.URL+"/", "application/json", rec)
	if resp.StatusCode != 202 || out["route"] != "redis" {
		t.Fatalf("%d %v", resp.StatusCode, out)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("failover took %v: the hanging route ate the request", took)
	}
}

// progressRoute is a memRoute that says when it last finished a write.
type progressRoute struct {
	*memRoute
	slow      time.Duration // each Deliver takes this long (or until the caller gives up)
	lastWrite func() time.Time
}

func (p *progressRoute) LastWrite() time.Time { return p.lastWrite() }
func (p *progressRoute) Deliver(ctx context.Context, recs []record.Record) error {
	select {
	case <-time.After(p.slow):
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.memRoute.Deliver(ctx, recs)
}

// A route's try ends when it has finished no write for the attempt's time,
// not when its own write has waited that long: a saturated pipeline (every
// route slow, writes still finishing) must not have a second route store
// what the first is storing.
func TestFailoverOnlyFromARouteThatFinishesNoWrites(t *testing.T) {
	const attempt = 100 * time.Millisecond
	tests := []struct {
		name      string
		slow      time.Duration
		lastWrite func() time.Time
		want      string
	}{
		{"slow, other writes finishing", 6 * attempt, time.Now, "grpc"},
		{"hung, no write ever", time.Hour, func() time.Time { return time.Time{} }, "redis"},
		{"hung, last write long ago", time.Hour, func() time.Time { return time.Now().Add(-time.Hour) }, "redis"},
		{"writes stop during the try", time.Hour, stopsAfter(3 * attempt), "redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &progressRoute{memRoute: &memRoute{name: "grpc"}, slow: tt.slow, lastWrite: tt.lastWrite}
			r := &memRoute{name: "redis"}
			rs := map[string]route.Route{"grpc": g, "redis": r}
			srv := newServerWith(t, split.Weights{"grpc": 1000, "redis": 1}, true, attempt, rs)
			start := time.Now()
			resp, out := postRec(t, srv.URL+"/", "application/json", rec)
			if resp.StatusCode != 202 || out["route"] != tt.want {
				t.Fatalf("%d %v, want 202 from %s", resp.StatusCode, out, tt.want)
			}
			if tt.want == "grpc" && len(r.got) != 0 {
				t.Fatalf("redis stored %d records the grpc route was storing", len(r.got))
			}
			took := time.Since(start)
			if tt.name == "writes stop during the try" && took < 3*attempt {
				t.Fatalf("gave way after %v, while the route was still finishing writes", took)
			}
			if took > 5*time.Second {
				t.Fatalf("took %v", took)
			}
		})
	}
}

// stopsAfter is a LastWrite that moves with the clock for d from its first
// call, then stays.
func stopsAfter(d time.Duration) func() time.Time {
	var once sync.Once
	var end time.Time
	return func() time.Time {
		once.Do(func() { end = time.Now().Add(d) })
		if now := time.Now(); now.Before(end) {
			return now
		}
		return end
	}
}

// withSplit adds the split endpoints (internal/api) beside the ingest, as
// the ingest tier does, with the admin token "tok".
func withSplit(mux *http.ServeMux, s *Server, sp *split.Splitter, shared *split.Shared, log *slog.Logger) {
	(&api.Split{Splitter: sp, Shared: shared, Routes: s.RouteNames(), AdminToken: "tok", Metrics: metrics.New(), Log: log}).Register(mux)
}

// anyProducer accepts every request as the producer "test" (the tests of
// this package that are not about keys; auth_test.go is).
type anyProducer struct{}

func (anyProducer) Check(*http.Request) (producer.Identity, error) {
	return producer.Identity{Name: "test"}, nil
}
