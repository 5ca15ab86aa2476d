// Package sinkenv is the real sink of the integration tests: a store on
// FerretDB (or VAC_TEST_MONGODB_URI), the statistics view on a
// redis-server of the test's own, and the sink that writes both. The route
// conformance suite (internal/route/routetest), the sink's and the view's
// tests store into it, so none of them builds the sink by hand.
package sinkenv

import (
	"context"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/sink"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// Env is a real sink with its store and view.
type Env struct {
	Store *store.Store
	View  *stats.View
	Sink  *sink.Sink
	Redis *testenv.RedisServer
}

// New opens a real sink: FerretDB (or VAC_TEST_MONGODB_URI) and a
// redis-server of the test's own; all of it is closed when the test ends.
func New(t *testing.T) *Env {
	t.Helper()
	ctx := context.Background()
	uri, db := testenv.Mongo(t)
	st, err := store.Open(ctx, uri, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	rs := testenv.StartRedis(t, false)
	view := stats.NewView(rs.Client(t), catalog.Default(), route.All)
	sk := sink.New(st, view, metrics.New(), testenv.Logger(t), sink.Options{})
	t.Cleanup(sk.Close)
	return &Env{Store: st, View: view, Sink: sk, Redis: rs}
}

// WaitStored waits until the store holds want records and the view counts
// exactly them (every figure, routes included); it fails the test after
// timeout or when the view's figures differ.
func (e *Env) WaitStored(t *testing.T, want []record.Record, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		n, err := testenv.CountRecords(ctx, e.Store)
		snap, serr := e.View.Snapshot(ctx)
		if err == nil && serr == nil && n == int64(len(want)) && snap.Total == int64(len(want)) {
			if diff := stats.Tally(want).Diff(snap, true); len(diff) > 0 {
				t.Fatalf("snapshot differs from what was delivered: %v", diff)
			}
			return
		}
		if time.Now().After(deadline) {
			var total int64
			if snap != nil {
				total = snap.Total
			}
			t.Fatalf("after %v: MongoDB holds %d (err %v), view counts %d; want %d", timeout, n, err, total, len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
