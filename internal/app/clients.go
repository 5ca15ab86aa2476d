package app

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/vacunometro/vacunometro/internal/backoff"
	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/route/pubsubroute"
	"github.com/vacunometro/vacunometro/internal/route/redisroute"
	"github.com/vacunometro/vacunometro/internal/sink"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/tracing"
)

// clients holds one process's long-lived clients and its lifecycle. The
// open* methods only connect (and register what closes them); what a tier
// does with a client is the tier's builder's business.
type clients struct {
	set   Settings
	log   *slog.Logger
	m     *metrics.Metrics
	cat   *catalog.Catalog
	tr    trace.Tracer
	rdb   *redis.Client // nil: no Redis configured
	store *store.Store  // nil: no MongoDB configured
	ps    *pubsub.Client
	sink  *sink.Sink
	keep  *stats.Keeper // the view's keeper (view.go); nil where no sink runs
	life  lifecycle

	view    *stats.View
	lagOnce sync.Once
	checks  map[string]func(context.Context) error // /readyz
}

func newClients(set Settings, log *slog.Logger) *clients {
	m := metrics.New()
	m.RegisterBuildInfo(Version)
	return &clients{set: set, log: log, m: m, cat: catalog.Default(), tr: tracing.Noop(), checks: map[string]func(context.Context) error{}}
}

func (c *clients) onClose(ph phase, f func()) { c.life.onClose(ph, f) }

// close shuts the process down in the order of the phases (lifecycle.go).
func (c *clients) close() { c.life.close() }

// setupTracing turns on OpenTelemetry traces when an OTLP endpoint is
// configured (OTEL_EXPORTER_OTLP_ENDPOINT); spans are flushed at close.
func (c *clients) setupTracing(ctx context.Context, service string) error {
	tr, shutdown, err := tracing.Setup(ctx, service, c.set.env)
	if err != nil {
		return err
	}
	c.tr = tr
	c.onClose(flushTraces, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdown(sctx)
	})
	return nil
}

func (c *clients) openRedis(ctx context.Context, url string) error {
	if url == "" {
		return fmt.Errorf("REDIS_URL is not set")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.PoolSize = 32
	opts.MinIdleConns = 4
	if !strings.Contains(url, "protocol=") {
		// RESP2 unless the URL asks otherwise: nothing here uses RESP3's
		// push notifications, whose check go-redis makes on every command
		// (about 4% of the ingest's CPU under single-record load).
		opts.Protocol = 2
	}
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pause := backoff.New(100*time.Millisecond, 100*time.Millisecond)
	for {
		if err = rdb.Ping(pctx).Err(); err == nil || !pause.Wait(pctx) {
			break
		}
	}
	if err != nil {
		_ = rdb.Close()
		return fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	c.rdb = rdb
	c.onClose(closeClients, func() { _ = rdb.Close() })
	c.checks["redis"] = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	return nil
}

func (c *clients) openStore(ctx context.Context, uri string) error {
	if uri == "" {
		return fmt.Errorf("MONGODB_URI is not set")
	}
	st, err := store.Open(ctx, uri, c.set.MongoDatabase)
	if err != nil {
		return err
	}
	c.store = st
	c.onClose(closeClients, func() { _ = st.Close(context.Background()) })
	c.checks["mongodb"] = st.Ping
	return nil
}

// openPubSub connects to addr (pstest or an emulator) or, without it, to
// PUBSUB_EMULATOR_HOST or Google Cloud. ensure creates topic and
// subscription when missing (emulators; on Google Cloud, Terraform does).
func (c *clients) openPubSub(ctx context.Context, addr string, ensure bool) error {
	project := c.set.PubSubProject
	if project == "" {
		return fmt.Errorf("PUBSUB_PROJECT is not set")
	}
	ps, err := pubsubroute.Connect(ctx, project, addr)
	if err != nil {
		return err
	}
	if ensure {
		ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := pubsubroute.EnsureTopology(ectx, ps, c.set.PubSubTopic, c.set.PubSubSub); err != nil {
			_ = ps.Close()
			return err
		}
	}
	c.ps = ps
	c.onClose(closeClients, func() { _ = ps.Close() })
	return nil
}

// statsView is the Redis view of the statistics (Redis must be open).
func (c *clients) statsView() *stats.View {
	if c.view == nil {
		c.view = stats.NewView(c.rdb, c.cat, route.All)
	}
	return c.view
}

// openSink needs the store and Redis: MongoDB first, then the view.
func (c *clients) openSink() error {
	if c.set.SinkErr != nil {
		return usageError("%v", c.set.SinkErr)
	}
	// Zero in sink.Options is its default: none is negative there.
	opts := sink.Options{Tracer: c.tr, Interval: cmp.Or(c.set.SinkInterval, -1)}
	if c.keep != nil {
		opts.Lease = c.keep.Lease()
	}
	c.sink = sink.New(c.store, c.statsView(), c.m, c.log, opts)
	c.onClose(closeSink, c.sink.Close)
	return nil
}

// registerRedisLag exports the redis route's queue lag: entries appended
// and not yet stored (the worker deletes an entry once the sink holds its
// records). Its producers and consumers both report it.
func (c *clients) registerRedisLag() {
	c.lagOnce.Do(func() {
		rdb := c.rdb
		c.m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vacunometro_redis_stream_entries",
			Help: "Entries in the redis route's stream not yet stored (queue lag, in batches).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			n, err := redisroute.Lag(ctx, rdb, redisroute.DefaultStream)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	})
}
