// Package route defines a delivery route: the path a record takes from the
// ingest to the sink (gRPC, a Redis Stream, or Pub/Sub). Deliver returns
// only when the route has durably taken the records.
package route

import (
	"context"

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

// Sink is where a route's consumer hands records (sink.Sink).
type Sink interface {
	Store(ctx context.Context, recs []record.Record) error
}

// Names of the routes.
const (
	GRPC   = "grpc"
	Redis  = "redis"
	PubSub = "pubsub"
)

// All lists the routes in display order.
var All = []string{GRPC, Redis, PubSub}
