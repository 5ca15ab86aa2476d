// Package route defines a delivery route: the path a record takes from the
// ingest to the sink (gRPC, a Redis Stream, or Pub/Sub). Deliver returns
// only when the route has durably taken the records.
package route

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/vacunometro/vacunometro/internal/batch"
	"github.com/vacunometro/vacunometro/internal/record"
)

// Route carries records from the ingest toward the sink.
type Route interface {
	// Name is the route's name in the split: grpc, redis or pubsub.
	Name() string
	// Deliver returns nil once every record is durably taken: stored by the
	// gRPC server, appended to the Redis Stream, or acknowledged by Pub/Sub.
	Deliver(ctx context.Context, recs []record.Record) error
	// Close flushes what is queued and releases the route's client.
	Close() error
}

// Progress is a route that can tell when it last finished a write to its
// transport (Batched can). The ingest gives a route that goes on finishing
// writes the whole request, however slow each is, and fails over only from
// one that has finished none for an attempt's time.
type Progress interface {
	// LastWrite is when the last successful write ended (zero: none yet).
	LastWrite() time.Time
}

// Sink is where a route's consumer hands records (sink.Sink).
type Sink interface {
	Store(ctx context.Context, recs []record.Record) error
}

// UrgentSink is a Sink that can store a delivery whose sender waits on the
// answer without waiting for company (sink.Sink.StoreNow).
type UrgentSink interface {
	Sink
	StoreNow(ctx context.Context, recs []record.Record) error
}

// Names of the routes.
const (
	GRPC   = "grpc"
	Redis  = "redis"
	PubSub = "pubsub"
)

// All lists the routes in display order.
var All = []string{GRPC, Redis, PubSub}

// DefaultInFlight is how many writes a route's producer keeps in flight
// unless told otherwise (ROUTE_IN_FLIGHT): one. While it is out, what
// arrives gathers for the next, so the write carries everything that came
// meanwhile (group commit, as a database's log does). Measured in `make
// bench` against 2 and 4 (bench/README.md, "One write in flight"): from
// single-record POSTs each gRPC call carries about 3 times the records,
// each Pub/Sub message twice as many, at no cost in throughput or
// freshness. A record waits at most for the write ahead of it.
const DefaultInFlight = 1

// Batched is the ingest side every route shares: Deliver hands the records
// to a group-commit batcher whose flush writes one batch to the transport,
// and returns once that write succeeded. Routes embed it.
type Batched struct {
	name    string
	b       *batch.Batcher[record.Record]
	closeFn func() error
	observe atomic.Pointer[func(records int)]
	// lastWrite is when the last successful flush ended (UnixNano).
	lastWrite atomic.Int64
}

// NewBatched returns the ingest side of route name. flush writes one batch;
// closeFn (optional) releases the transport after the batcher has flushed.
func NewBatched(name string, flush batch.Flush[record.Record], opts batch.Options, closeFn func() error) *Batched {
	r := &Batched{name: name, closeFn: closeFn}
	r.b = batch.New(func(ctx context.Context, recs []record.Record) error {
		if f := r.observe.Load(); f != nil {
			(*f)(len(recs))
		}
		err := flush(ctx, recs)
		if err == nil {
			r.lastWrite.Store(time.Now().UnixNano())
		}
		return err
	}, opts)
	return r
}

// LastWrite is when the last successful write to the transport ended.
func (r *Batched) LastWrite() time.Time {
	if n := r.lastWrite.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// ObserveBatches makes f see the size of every batch written to the
// transport (the metric vacunometro_route_batch_records).
func (r *Batched) ObserveBatches(f func(records int)) { r.observe.Store(&f) }

// Name is the route's name.
func (r *Batched) Name() string { return r.name }

// Deliver returns once the records are durably taken.
func (r *Batched) Deliver(ctx context.Context, recs []record.Record) error {
	if err := r.b.Submit(ctx, recs...); err != nil {
		return fmt.Errorf("%s route: %w", r.name, err)
	}
	return nil
}

// Close flushes what is queued, then releases the transport.
func (r *Batched) Close() error {
	r.b.Close()
	if r.closeFn != nil {
		return r.closeFn()
	}
	return nil
}
