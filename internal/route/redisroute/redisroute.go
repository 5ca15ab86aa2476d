// Package redisroute provides the Redis route: the ingest appends each
// group-committed batch as one entry of a Redis Stream (XADD); workers in a
// consumer group read entries, store them through the sink, then XACK and
// XDEL them. Entries left pending by a dead worker are claimed by another
// after an idle time (XAUTOCLAIM). Durability of an accepted record rests on
// Redis persistence: run it with appendonly yes and appendfsync always.
package redisroute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/protobuf/proto"

	"github.com/vacunometro/vacunometro/internal/backoff"
	"github.com/vacunometro/vacunometro/internal/batch"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
)

// Defaults for the stream's names.
const (
	DefaultStream = "vacunometro:records"
	DefaultGroup  = "sink"
	field         = "batch"
)

// Producer is the ingest side.
type Producer struct {
	*route.Batched
	rdb    redis.UniversalClient
	stream string
}

// ProducerOptions tune the producer.
type ProducerOptions struct {
	Stream      string // default DefaultStream
	MaxBatch    int    // records per entry (default 500)
	MaxInFlight int    // concurrent XADDs (default route.DefaultInFlight): fewer, fuller entries cost both sides less per record
}

// NewProducer returns the Redis route's ingest side.
func NewProducer(rdb redis.UniversalClient, opts ProducerOptions) *Producer {
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 500
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = route.DefaultInFlight
	}
	p := &Producer{rdb: rdb, stream: opts.Stream}
	p.Batched = route.NewBatched(route.Redis, p.add, batch.Options{MaxItems: opts.MaxBatch, MaxInFlight: opts.MaxInFlight, FlushTimeout: 10 * time.Second}, nil)
	return p
}

func (p *Producer) add(ctx context.Context, recs []record.Record) error {
	data, err := proto.Marshal(record.BatchToProto(recs))
	if err != nil {
		return fmt.Errorf("encode batch: %w", err)
	}
	if err := p.rdb.XAdd(ctx, &redis.XAddArgs{Stream: p.stream, Values: []any{field, data}}).Err(); err != nil {
		return fmt.Errorf("xadd: %w", err)
	}
	return nil
}

// WorkerOptions tune a worker.
type WorkerOptions struct {
	Stream      string        // default DefaultStream
	Group       string        // default DefaultGroup
	Consumer    string        // default hostname-pid
	Concurrency int           // readers (default 4)
	Count       int64         // entries per read (default 16)
	Block       time.Duration // XREADGROUP block (default 1s)
	ClaimIdle   time.Duration // claim entries pending longer than this (default 30s)
}

// Worker reads the stream in a consumer group and stores what it reads.
type Worker struct {
	rdb     redis.UniversalClient
	deps    route.ConsumerDeps
	log     *slog.Logger
	opts    WorkerOptions
	consume route.Consumer[redis.XMessage]
}

// NewWorker returns a worker; Run starts it.
func NewWorker(rdb redis.UniversalClient, deps route.ConsumerDeps, opts WorkerOptions) *Worker {
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	if opts.Group == "" {
		opts.Group = DefaultGroup
	}
	if opts.Consumer == "" {
		host, _ := os.Hostname()
		opts.Consumer = host + "-" + strconv.Itoa(os.Getpid())
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Count <= 0 {
		opts.Count = 16
	}
	if opts.Block <= 0 {
		opts.Block = time.Second
	}
	if opts.ClaimIdle <= 0 {
		opts.ClaimIdle = 30 * time.Second
	}
	deps.Log = deps.Log.With("route", route.Redis, "consumer", opts.Consumer)
	w := &Worker{rdb: rdb, deps: deps, log: deps.Log, opts: opts}
	// On a store failure nothing is acknowledged: the entries stay pending
	// and are claimed again after ClaimIdle.
	w.consume = route.Consumer[redis.XMessage]{Deps: deps, Span: "redis.consume", Decode: w.decode,
		Detach: 30 * time.Second, Ack: w.ack, DeadLetter: w.deadLetter}
	return w
}

// Run consumes until ctx ends. Entries being stored when ctx ends are
// finished (with a grace period) and acknowledged.
func (w *Worker) Run(ctx context.Context) error {
	w.ensureGroup(ctx)
	var wg sync.WaitGroup
	for i := 0; i < w.opts.Concurrency; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); w.readLoop(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); w.claimLoop(ctx) }()
	wg.Wait()
	return nil
}

func (w *Worker) ensureGroup(ctx context.Context) {
	err := w.rdb.XGroupCreateMkStream(ctx, w.opts.Stream, w.opts.Group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") && ctx.Err() == nil {
		w.log.Warn("create consumer group", "err", err)
	}
}

func (w *Worker) readLoop(ctx context.Context) {
	pause := backoff.New(50*time.Millisecond, 2*time.Second)
	for ctx.Err() == nil {
		res, err := w.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: w.opts.Group, Consumer: w.opts.Consumer, Streams: []string{w.opts.Stream, ">"},
			Count: w.opts.Count, Block: w.opts.Block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d := pause.Next()
			if strings.Contains(err.Error(), "NOGROUP") {
				w.ensureGroup(ctx) // the stream was deleted (Redis wiped): start again
			} else {
				w.log.Warn("read stream", "err", err, "retry_in", d)
			}
			backoff.Sleep(ctx, d)
			continue
		}
		pause.Reset()
		for _, s := range res {
			w.handle(ctx, s.Messages, false)
		}
	}
}

// claimLoop takes over entries another consumer read but never acknowledged.
func (w *Worker) claimLoop(ctx context.Context) {
	interval := min(w.opts.ClaimIdle/2, 5*time.Second)
	for ctx.Err() == nil {
		start := "0-0"
		for ctx.Err() == nil {
			msgs, next, err := w.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
				Stream: w.opts.Stream, Group: w.opts.Group, Consumer: w.opts.Consumer,
				MinIdle: w.opts.ClaimIdle, Start: start, Count: w.opts.Count,
			}).Result()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, redis.Nil) && !strings.Contains(err.Error(), "NOGROUP") {
					w.log.Warn("claim pending entries", "err", err)
				}
				break
			}
			if len(msgs) > 0 {
				w.log.Info("claimed pending entries", "entries", len(msgs))
				w.handle(ctx, msgs, true)
			}
			if next == "0-0" || next == "" {
				break
			}
			start = next
		}
		backoff.Sleep(ctx, interval)
	}
}

// handle stores the records of msgs together, then acknowledges them.
func (w *Worker) handle(ctx context.Context, msgs []redis.XMessage, claimed bool) {
	if claimed {
		w.deps.Metrics.Redelivered.WithLabelValues(route.Redis).Add(float64(len(msgs)))
	}
	_, _ = w.consume.Handle(ctx, msgs, attribute.Int("entries", len(msgs)), attribute.Bool("claimed", claimed))
}

// deadLetter copies an undecodable entry to the dead-letter stream; the
// entry is then acknowledged with the others.
func (w *Worker) deadLetter(ctx context.Context, m redis.XMessage, cause *route.PoisonError) error {
	w.log.Error("undecodable stream entry moved to dead letters", "id", m.ID, "err", cause)
	w.rdb.XAdd(ctx, &redis.XAddArgs{Stream: w.opts.Stream + ":dead", Values: m.Values})
	return nil
}

func (w *Worker) ack(ctx context.Context, msgs []redis.XMessage) {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	pipe := w.rdb.Pipeline()
	pipe.XAck(ctx, w.opts.Stream, w.opts.Group, ids...)
	pipe.XDel(ctx, w.opts.Stream, ids...)
	if _, err := pipe.Exec(ctx); err != nil {
		// Stored but not acknowledged: the entries will be delivered again
		// and found as duplicates. Nothing is lost or counted twice.
		w.log.Warn("ack entries", "entries", len(ids), "err", err)
	}
}

func (w *Worker) decode(m redis.XMessage) ([]record.Record, error) {
	raw, ok := m.Values[field].(string)
	if !ok {
		return nil, &route.PoisonError{Reason: "undecodable", Err: fmt.Errorf("entry has no %q field", field)}
	}
	return route.DecodeBatch([]byte(raw), w.deps.Catalog)
}

// Lag returns the number of entries not yet acknowledged and not yet read.
func Lag(ctx context.Context, rdb redis.UniversalClient, stream string) (int64, error) {
	n, err := rdb.XLen(ctx, stream).Result()
	if err != nil {
		return 0, fmt.Errorf("redis route: xlen: %w", err)
	}
	return n, nil
}
