package rollout

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/vacunometro/vacunometro/internal/api"
	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/ingest"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/route/fault"
	"github.com/vacunometro/vacunometro/internal/split"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// memRoute takes records in memory. The unit tests of the runner use the
// real ingest (split, failover, metrics, PUT /api/split) over these; the
// integration test (rollout_e2e_test.go) uses the binary and real services.
type memRoute struct {
	name string
	n    atomic.Int64
}

func (m *memRoute) Name() string { return m.name }
func (m *memRoute) Deliver(ctx context.Context, recs []record.Record) error {
	m.n.Add(int64(len(recs)))
	return nil
}
func (m *memRoute) Close() error { return nil }

type ingestHarness struct {
	URL   string
	Token string
	split *split.Splitter
	srv   *httptest.Server
}

const testToken = "test-admin-token-0123456789"

// newIngest serves the real ingest handler (records, /api/split,
// /metrics) over in-memory routes with the given faults.
func newIngest(t *testing.T, faults string, w split.Weights) *ingestHarness {
	t.Helper()
	m := metrics.New()
	routes := map[string]route.Route{}
	for _, n := range route.All {
		routes[n] = &memRoute{name: n}
	}
	if err := fault.Apply(routes, faults, nil); err != nil {
		t.Fatal(err)
	}
	s := split.New(w)
	mux := http.NewServeMux()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ing := ingest.New(ingest.Config{
		Decoder: &record.Decoder{Catalog: catalog.Default(), IDs: &record.IDGenerator{}},
		Routes:  routes, Splitter: s, Failover: true,
		Metrics: m, Log: log, Auth: testenv.Keys(),
	})
	ing.Register(mux)
	(&api.Split{Splitter: s, Routes: ing.RouteNames(), AdminToken: testToken, Metrics: m, Log: log}).Register(mux)
	mux.Handle("GET /metrics", m.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &ingestHarness{URL: srv.URL, Token: testToken, split: s, srv: srv}
}
