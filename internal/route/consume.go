package route

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/tracing"
	pb "github.com/vacunometro/vacunometro/proto/vacunometro/v1"
)

// ConsumerDeps are what the consumer side of every route needs besides its
// transport. Every consumer constructor takes them the same way:
// New…(transport client, deps, options).
type ConsumerDeps struct {
	Sink    Sink
	Catalog *catalog.Catalog
	Metrics *metrics.Metrics
	Log     *slog.Logger
	Tracer  trace.Tracer // optional
}

// PoisonError is a message no consumer can ever store: it is dead-lettered
// (or refused), never retried. Reason is "undecodable" or "invalid-records".
type PoisonError struct {
	Reason string
	Err    error
}

func (e *PoisonError) Error() string { return e.Err.Error() }
func (e *PoisonError) Unwrap() error { return e.Err }

// DecodeBatch decodes a protobuf RecordBatch (the payload every route
// carries) and checks its records against cat.
func DecodeBatch(data []byte, cat *catalog.Catalog) ([]record.Record, error) {
	var b pb.RecordBatch
	if err := proto.Unmarshal(data, &b); err != nil {
		return nil, &PoisonError{Reason: "undecodable", Err: fmt.Errorf("decode batch: %w", err)}
	}
	return CheckBatch(&b, cat)
}

// CheckBatch turns a decoded RecordBatch into records checked against cat.
func CheckBatch(b *pb.RecordBatch, cat *catalog.Catalog) ([]record.Record, error) {
	recs, err := record.BatchFromProto(b, cat)
	if err != nil {
		return nil, &PoisonError{Reason: "invalid-records", Err: err}
	}
	return recs, nil
}

// Consumer is the one consume step of every route: decode what the
// transport received, store the records through the sink, then acknowledge
// them, or hand them back for redelivery, or dead-letter what can never be
// stored. Each route provides only its transport's part.
type Consumer[M any] struct {
	Deps ConsumerDeps
	// Span names the consumer span ("redis.consume").
	Span string
	// Decode returns a message's records; a *PoisonError marks a message
	// that can never be stored.
	Decode func(m M) ([]record.Record, error)
	// Detach, when set, stores with a context that outlives the caller's
	// (up to Detach): a batch already received is finished when the worker
	// is stopping, which is cheaper than a redelivery, and bounded.
	Detach time.Duration
	// Urgent stores with the sink's StoreNow, where it has one: the
	// sender waits on the answer (the gRPC route), so the records must not
	// wait for company.
	Urgent bool
	// Ack acknowledges messages that are stored or dead-lettered (nil: the
	// caller answers, as the gRPC server does with Handle's result).
	Ack func(ctx context.Context, msgs []M)
	// Retry hands messages back for redelivery after the store (or a
	// dead-letter write) failed with err (nil: nothing to do, the transport
	// redelivers by itself). The store's failure is logged here already.
	Retry func(ctx context.Context, msgs []M, err error)
	// DeadLetter keeps a poison message for an operator; an error leaves
	// the message to Retry. Nil: a poison message is refused, Handle
	// returns its *PoisonError.
	DeadLetter func(ctx context.Context, m M, cause *PoisonError) error
}

// Handle runs the consume step over msgs: the records of every decodable
// message are stored together, then those messages are acknowledged with
// the dead-lettered ones. On a store failure nothing is acknowledged. It
// returns how many records were stored, and the store's error or the
// *PoisonError of a refused message. attrs are added to the consumer span
// (which also carries the number of records).
func (c *Consumer[M]) Handle(ctx context.Context, msgs []M, attrs ...attribute.KeyValue) (int, error) {
	var recs []record.Record
	good := make([]M, 0, len(msgs))
	var poison []M
	var causes []*PoisonError
	for _, m := range msgs {
		got, err := c.Decode(m)
		if err != nil {
			var pe *PoisonError
			if !errors.As(err, &pe) {
				pe = &PoisonError{Reason: "undecodable", Err: err}
			}
			if c.DeadLetter == nil {
				return 0, pe
			}
			poison, causes = append(poison, m), append(causes, pe)
			continue
		}
		recs = append(recs, got...)
		good = append(good, m)
	}
	if len(recs) == 0 && len(poison) == 0 && c.Ack == nil {
		return 0, nil // nothing to store, nobody to answer
	}
	sctx := ctx
	if c.Detach > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), c.Detach)
		defer cancel()
	}
	attrs = append([]attribute.KeyValue{attribute.Int("records", len(recs))}, attrs...)
	sctx, span := tracing.StartConsumer(sctx, tracing.OrNoop(c.Deps.Tracer), c.Span, recs, trace.WithAttributes(attrs...))
	defer span.End()
	if len(recs) > 0 {
		store := c.Deps.Sink.Store
		if u, ok := c.Deps.Sink.(UrgentSink); ok && c.Urgent {
			store = u.StoreNow
		}
		if err := store(sctx, recs); err != nil {
			if sctx.Err() == nil {
				c.Deps.Log.Error("store failed; the messages are delivered again", "messages", len(msgs), "records", len(recs), "err", err)
			}
			if c.Retry != nil {
				c.Retry(sctx, msgs, err)
			}
			return 0, err
		}
	}
	done := good
	for i, m := range poison {
		if err := c.DeadLetter(sctx, m, causes[i]); err != nil {
			if c.Retry != nil {
				c.Retry(sctx, []M{m}, err)
			}
			continue
		}
		done = append(done, m)
	}
	if len(done) > 0 && c.Ack != nil {
		c.Ack(sctx, done)
	}
	return len(recs), nil
}
