// Package routetest is the one conformance suite every route passes (as
// watermill runs one suite against every Pub/Sub backend): whatever carries
// the records, what Deliver accepted is stored once and counted once.
package routetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/testenv/sinkenv"
)

// Harness is one route wired for a test: its ingest side and its consumer.
type Harness struct {
	// Route is the ingest side.
	Route route.Route
	// Start starts the consumer side (gRPC server or worker) storing into
	// the given sink; stop ends it gracefully. Start may be called again
	// after stop.
	Start func(t *testing.T, s route.Sink) (stop func())
	// Crash ends the consumer abruptly, as kill -9 would, if the route can
	// show it; nil otherwise.
	Crash func()
	// Duplicate delivers recs to the consumer twice at the transport level
	// (the same message again), bypassing the ingest's batching.
	Duplicate func(t *testing.T, recs []record.Record)
	// Queued reports whether Deliver returns before a consumer runs (a queue
	// holds the records) rather than waiting for the consumer to store them.
	Queued bool
}

// Factory builds a fresh harness (its own services) for one test.
type Factory func(t *testing.T) *Harness

// Records makes n valid records with ids prefixed by prefix.
func Records(n int, prefix, routeName string) []record.Record {
	cat := catalog.Default()
	deps, vacs := cat.Departments(), cat.Vaccines()
	now := time.Now().UTC().Truncate(time.Millisecond)
	out := make([]record.Record, n)
	for i := range out {
		d := deps[(i*5+len(prefix))%len(deps)]
		out[i] = record.Record{
			ID: fmt.Sprintf("%s-%06d", prefix, i), Name: fmt.Sprintf("Ana Lucia Perez %d", i),
			DepartmentCode: d.Code, Department: d.Name, Age: (i * 17) % 121,
			Vaccine: vacs[(i/3)%len(vacs)].Name, Dose: 1 + (i/2)%4, Route: routeName, ReceivedAt: now,
		}
	}
	return out
}

// Run runs the suite against the route that newHarness builds.
func Run(t *testing.T, newHarness Factory) {
	t.Run("DeliversEverythingOnce", func(t *testing.T) { testDeliversEverything(t, newHarness) })
	t.Run("RedeliveryIsCountedOnce", func(t *testing.T) { testDuplicates(t, newHarness) })
	t.Run("SurvivesConsumerRestart", func(t *testing.T) { testConsumerRestart(t, newHarness) })
	t.Run("FailedStoreIsRetried", func(t *testing.T) { testFlakySink(t, newHarness) })
}

func deliverAll(t *testing.T, r route.Route, recs []record.Record, chunk int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(recs)/chunk+1)
	// Deliver may run in a goroutine of the test: report, don't Fatal, here.
	sem := make(chan struct{}, 32)
	for i := 0; i < len(recs); i += chunk {
		part := recs[i:min(i+chunk, len(recs))]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := r.Deliver(ctx, part); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Deliver: %v", err)
		return
	}
}

func testDeliversEverything(t *testing.T, newHarness Factory) {
	h := newHarness(t)
	e := sinkenv.New(t)
	stop := h.Start(t, e.Sink)
	defer stop()
	recs := Records(3000, "all", h.Route.Name())
	// Single records and batches of several sizes, concurrently.
	deliverAll(t, h.Route, recs[:300], 1)
	deliverAll(t, h.Route, recs[300:1000], 7)
	deliverAll(t, h.Route, recs[1000:], 250)
	e.WaitStored(t, recs, 30*time.Second)
}

func testDuplicates(t *testing.T, newHarness Factory) {
	h := newHarness(t)
	e := sinkenv.New(t)
	stop := h.Start(t, e.Sink)
	defer stop()
	recs := Records(200, "dup", h.Route.Name())
	deliverAll(t, h.Route, recs, 20)
	// The same records again through the ingest, and the same message
	// delivered twice by the transport.
	deliverAll(t, h.Route, recs, 50)
	h.Duplicate(t, recs[:40])
	h.Duplicate(t, recs[:40])
	time.Sleep(300 * time.Millisecond)
	e.WaitStored(t, recs, 20*time.Second)
}

func testConsumerRestart(t *testing.T, newHarness Factory) {
	h := newHarness(t)
	e := sinkenv.New(t)
	stop := h.Start(t, e.Sink)
	first := Records(500, "before", h.Route.Name())
	deliverAll(t, h.Route, first, 25)
	if h.Crash != nil {
		h.Crash()
	} else {
		stop()
	}
	second := Records(500, "during", h.Route.Name())
	done := make(chan struct{})
	go func() {
		defer close(done)
		deliverAll(t, h.Route, second, 25)
	}()
	if h.Queued {
		// A queue takes records while no consumer runs.
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("Deliver did not return while the consumer was down, though the route queues")
		}
	} else {
		time.Sleep(300 * time.Millisecond)
	}
	stop2 := h.Start(t, e.Sink)
	defer stop2()
	<-done
	e.WaitStored(t, append(first, second...), 60*time.Second)
}

// flakySink fails every other Store call, starting with the first.
type flakySink struct {
	next  route.Sink
	calls atomic.Int64
	fails atomic.Int64
}

func (f *flakySink) Store(ctx context.Context, recs []record.Record) error {
	if f.calls.Add(1)%2 == 1 {
		f.fails.Add(1)
		return errors.New("injected store failure")
	}
	return f.next.Store(ctx, recs)
}

func testFlakySink(t *testing.T, newHarness Factory) {
	h := newHarness(t)
	e := sinkenv.New(t)
	fs := &flakySink{next: e.Sink}
	stop := h.Start(t, fs)
	defer stop()
	recs := Records(300, "flaky", h.Route.Name())
	var accepted []record.Record
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < len(recs); i += 10 {
		part := recs[i : i+10]
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A client retries until the route accepts (ids make it safe).
			for attempt := 0; attempt < 20; attempt++ {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := h.Route.Deliver(ctx, part)
				cancel()
				if err == nil {
					mu.Lock()
					accepted = append(accepted, part...)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(accepted) != len(recs) {
		t.Fatalf("accepted %d of %d records after retries", len(accepted), len(recs))
	}
	e.WaitStored(t, recs, 90*time.Second)
	if fs.fails.Load() == 0 {
		t.Fatal("the flaky sink never failed: the test proves nothing")
	}
}

// CallSink is a route.UrgentSink that stores nothing and records which of
// its methods was called ("Store" or "StoreNow"), in order.
type CallSink struct{ Calls []string }

// Store records the call.
func (c *CallSink) Store(context.Context, []record.Record) error {
	c.Calls = append(c.Calls, "Store")
	return nil
}

// StoreNow records the call.
func (c *CallSink) StoreNow(context.Context, []record.Record) error {
	c.Calls = append(c.Calls, "StoreNow")
	return nil
}
