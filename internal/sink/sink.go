// Package sink provides the one place records are stored: MongoDB first (the
// truth, idempotent by id), then the live view in Redis (each record counted
// once, only after MongoDB holds it). Every route's consumer ends here.
package sink

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vacunometro/vacunometro/internal/batch"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/tracing"
)

// Options tune the sink's group commit.
type Options struct {
	MaxBatch    int          // records per InsertMany (default 1000)
	MaxInFlight int          // concurrent InsertMany calls (default 2)
	Tracer      trace.Tracer // optional
}

// Sink stores records with group commit.
type Sink struct {
	store *store.Store
	view  *stats.View
	m     *metrics.Metrics
	log   *slog.Logger
	b     *batch.Batcher[record.Record]
	tr    trace.Tracer
}

// New returns a sink writing to st and counting into view.
func New(st *store.Store, view *stats.View, m *metrics.Metrics, log *slog.Logger, opts Options) *Sink {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 2
	}
	s := &Sink{store: st, view: view, m: m, log: log, tr: tracing.OrNoop(opts.Tracer)}
	s.b = batch.New(s.flush, batch.Options{MaxItems: opts.MaxBatch, MaxInFlight: opts.MaxInFlight})
	return s
}

// Store returns once MongoDB holds every record of recs and the view has
// counted them. It is safe to call again with the same records.
func (s *Sink) Store(ctx context.Context, recs []record.Record) error {
	ctx, span := s.tr.Start(ctx, "sink.store", trace.WithAttributes(attribute.Int("records", len(recs))))
	defer span.End()
	err := s.b.Submit(ctx, recs...)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "store failed")
	}
	return err
}

// Close writes what is queued and stops.
func (s *Sink) Close() { s.b.Close() }

func (s *Sink) flush(ctx context.Context, recs []record.Record) error {
	res, err := s.store.Insert(ctx, recs)
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	now := time.Now()
	s.m.SinkBatch.Observe(float64(len(recs)))
	s.m.Stored.WithLabelValues("fresh").Add(float64(len(res.Fresh)))
	s.m.Stored.WithLabelValues("duplicate").Add(float64(len(res.Duplicate)))
	toCount := make([]record.Record, 0, len(recs))
	for _, i := range res.Fresh {
		toCount = append(toCount, recs[i])
		s.m.StoreLag.WithLabelValues(recs[i].Route).Observe(now.Sub(recs[i].ReceivedAt).Seconds())
	}
	if len(res.Duplicate) > 0 {
		// Count what MongoDB holds, not what was sent again: a reused id may
		// carry other data, and the first write wins. The view ignores ids
		// it has already counted, so this only fills a gap left by a crash
		// between MongoDB and Redis.
		ids := make([]string, len(res.Duplicate))
		for k, i := range res.Duplicate {
			ids[k] = recs[i].ID
		}
		held, err := s.store.Get(ctx, ids)
		if err != nil {
			return fmt.Errorf("sink: read duplicates: %w", err)
		}
		toCount = append(toCount, held...)
	}
	n, err := s.view.Apply(ctx, toCount)
	if err != nil {
		return fmt.Errorf("sink: count: %w", err)
	}
	s.m.Counted.Add(float64(n))
	if len(res.Duplicate) > 0 {
		s.log.Debug("duplicate records ignored", "duplicates", len(res.Duplicate), "counted", n)
	}
	return nil
}
