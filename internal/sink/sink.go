// Package sink provides the one place records are stored: MongoDB first (the
// truth, idempotent by id), then the live view in Redis (each record counted
// once, only after MongoDB holds it). Every route's consumer ends here.
//
// Each group-committed batch is an intent in Redis, one InsertMany, then a
// commit that counts the records that batch newly stored (internal/stats
// explains why that is exactly once with no per-record state).
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vacunometro/vacunometro/internal/backoff"
	"github.com/vacunometro/vacunometro/internal/batch"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/tracing"
)

// Options tune the sink's group commit.
type Options struct {
	MaxBatch    int // records per InsertMany (default 1000)
	MaxInFlight int // concurrent InsertMany calls (default 2)
	// Interval spaces the InsertMany calls under load (batch.Options.Interval):
	// FerretDB pays about a millisecond and a half of CPU for each one
	// whatever it holds, so single-record deliveries are cheap to store
	// only in company. Deliveries stored with StoreNow (a gRPC call, whose
	// client waits) do not wait for it. Zero: DefaultInterval; negative: none.
	Interval time.Duration
	Tracer   trace.Tracer // optional
	// Lease is the process's insert lease (stats.Keeper.Lease): inserts end
	// when it lapses, so that a batch left uncommitted by a crash is
	// repaired as soon as the process's heartbeat is gone.
	Lease *stats.Lease
	// Owner is the heartbeat id of a sink without a Lease (tests): its
	// batches are repaired once it is gone and InsertDeadline has passed.
	Owner string
}

// DefaultInterval is the sink's default Interval: at most that much more
// between a record's hand-off and its count under load (the freshness
// goal is 250 ms at p99), for InsertMany calls of what arrives in it.
const DefaultInterval = 25 * time.Millisecond

// Sink stores records with group commit.
type Sink struct {
	store *store.Store
	view  *stats.View
	m     *metrics.Metrics
	log   *slog.Logger
	b     *batch.Batcher[record.Record]
	tr    trace.Tracer
	owner string
	lease *stats.Lease

	maxBatch int
}

// New returns a sink writing to st and counting into view.
func New(st *store.Store, view *stats.View, m *metrics.Metrics, log *slog.Logger, opts Options) *Sink {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 2
	}
	if opts.Owner == "" {
		opts.Owner = stats.NewBatchID()
	}
	s := &Sink{store: st, view: view, m: m, log: log, tr: tracing.OrNoop(opts.Tracer), owner: opts.Owner, lease: opts.Lease, maxBatch: opts.MaxBatch}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	s.b = batch.New(s.flush, batch.Options{MaxItems: opts.MaxBatch, MaxInFlight: opts.MaxInFlight, Interval: max(opts.Interval, 0)})
	return s
}

// Store returns once MongoDB holds every record of recs and the view has
// counted them. It is safe to call again with the same records. Under load
// it waits for company (Options.Interval).
func (s *Sink) Store(ctx context.Context, recs []record.Record) error {
	return s.submit(ctx, false, recs)
}

// StoreNow is Store for a delivery whose sender waits on the answer (the
// gRPC route's 202): its InsertMany starts as soon as one can, with the
// records that wait for company.
func (s *Sink) StoreNow(ctx context.Context, recs []record.Record) error {
	return s.submit(ctx, true, recs)
}

func (s *Sink) submit(ctx context.Context, now bool, recs []record.Record) error {
	ctx, span := s.tr.Start(ctx, "sink.store", trace.WithAttributes(attribute.Int("records", len(recs))))
	defer span.End()
	submit := s.b.Submit
	if now {
		submit = s.b.SubmitNow
	}
	err := submit(ctx, recs...)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "store failed")
	}
	return err
}

// Close writes what is queued and stops.
func (s *Sink) Close() { s.b.Close() }

func (s *Sink) flush(ctx context.Context, recs []record.Record) error {
	// One submission may hold more than a batch (a route hands over many
	// entries at once): each part is its own intent, insert and commit, so
	// that every InsertMany fits its deadline.
	for len(recs) > s.maxBatch {
		if err := s.flushOne(ctx, recs[:s.maxBatch]); err != nil {
			return err
		}
		recs = recs[s.maxBatch:]
	}
	return s.flushOne(ctx, recs)
}

// flushOne stores one batch; the records of a batch that fails are counted
// as outcome "failed" (what `vacunometro rollout --by track` judges a release
// track's pods by, with the stored ones).
func (s *Sink) flushOne(ctx context.Context, recs []record.Record) error {
	err := s.storeOne(ctx, recs)
	if err != nil {
		s.m.Stored.WithLabelValues("failed").Add(float64(len(recs)))
	}
	return err
}

func (s *Sink) storeOne(ctx context.Context, recs []record.Record) error {
	batch := stats.NewBatchID()
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	var err error
	if s.lease != nil {
		err = s.view.IntendLeased(ctx, batch, s.lease, ids)
	} else {
		err = s.view.Intend(ctx, batch, s.owner, ids)
	}
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	ictx, cancel := context.WithTimeout(ctx, stats.InsertDeadline)
	if s.lease != nil {
		// The insert ends when the lease does: a repair may count this
		// batch as soon as the heartbeat is gone.
		defer context.AfterFunc(s.lease.Context(), cancel)()
	}
	res, err := s.store.Insert(ictx, batch, recs)
	cancel()
	if err != nil {
		// The intent stays: whatever went in is counted by the repair.
		return fmt.Errorf("sink: %w", err)
	}
	now := time.Now()
	s.m.SinkBatch.Observe(float64(len(recs)))
	s.m.Stored.WithLabelValues("fresh").Add(float64(len(res.Fresh)))
	s.m.Stored.WithLabelValues("duplicate").Add(float64(len(res.Duplicate)))
	fresh := make([]record.Record, 0, len(res.Fresh))
	for _, i := range res.Fresh {
		fresh = append(fresh, recs[i])
		s.m.StoreLag.WithLabelValues(recs[i].Route).Observe(now.Sub(recs[i].ReceivedAt).Seconds())
	}
	// Duplicates belong to the batch that first stored them, which counts
	// them (or whose repair does): never here, whatever their age.
	// Three tries, 50 then 100 ms apart.
	var n int
	pause := backoff.New(50*time.Millisecond, 100*time.Millisecond)
	for attempt := 0; ; attempt++ {
		n, err = s.view.Commit(ctx, batch, fresh)
		if err == nil || errors.Is(err, stats.ErrCommitted) || attempt == 2 || !pause.Wait(ctx) {
			break
		}
	}
	if errors.Is(err, stats.ErrCommitted) {
		s.log.Warn("batch committed by the repair first", "batch", batch, "records", len(fresh))
		return nil
	}
	if err != nil {
		return fmt.Errorf("sink: count: %w", err)
	}
	s.m.Counted.Add(float64(n))
	if len(res.Duplicate) > 0 {
		s.log.Debug("duplicate records ignored", "duplicates", len(res.Duplicate), "counted", n)
	}
	return nil
}
