package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/httpx"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/realtime"
	"github.com/vacunometro/vacunometro/internal/route/pubsubroute"
	"github.com/vacunometro/vacunometro/internal/route/redisroute"
	"github.com/vacunometro/vacunometro/internal/sink"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/tracing"
)

// parts holds one process's long-lived clients and what closes them.
type parts struct {
	set   Settings
	log   *slog.Logger
	m     *metrics.Metrics
	cat   *catalog.Catalog
	rdb   *redis.Client
	store *store.Store
	view  *stats.View
	sink  *sink.Sink
	keep  *stats.Keeper
	ps    *pubsub.Client
	tr    trace.Tracer

	mu      sync.Mutex
	closers []func()
	checks  map[string]func(context.Context) error
}

func newParts(set Settings, log *slog.Logger) *parts {
	m := metrics.New()
	m.RegisterBuildInfo(Version)
	return &parts{set: set, log: log, m: m, cat: catalog.Default(), tr: tracing.Noop(), checks: map[string]func(context.Context) error{}}
}

// setupTracing turns on OpenTelemetry traces when an OTLP endpoint is
// configured (OTEL_EXPORTER_OTLP_ENDPOINT); spans are flushed at close.
func (p *parts) setupTracing(ctx context.Context, service string) error {
	tr, shutdown, err := tracing.Setup(ctx, service, p.set.env)
	if err != nil {
		return err
	}
	p.tr = tr
	p.onClose(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdown(sctx)
	})
	return nil
}

// onClose registers f to run at close, in reverse order of registration.
func (p *parts) onClose(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closers = append(p.closers, f)
}

func (p *parts) close() {
	p.mu.Lock()
	closers := p.closers
	p.closers = nil
	p.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

func (p *parts) openRedis(ctx context.Context, url string) error {
	if url == "" {
		return fmt.Errorf("REDIS_URL is not set")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.PoolSize = 32
	opts.MinIdleConns = 4
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		if err = rdb.Ping(pctx).Err(); err == nil || pctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		_ = rdb.Close()
		return fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	p.rdb = rdb
	p.view = stats.NewView(rdb, p.cat)
	// Queue lag of the redis route: entries appended and not yet stored
	// (the worker deletes an entry once the sink holds its records).
	p.m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
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
	p.onClose(func() { _ = rdb.Close() })
	p.checks["redis"] = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	return nil
}

func (p *parts) openStore(ctx context.Context, uri string) error {
	if uri == "" {
		return fmt.Errorf("MONGODB_URI is not set")
	}
	st, err := store.Open(ctx, uri, p.set.MongoDatabase)
	if err != nil {
		return err
	}
	p.store = st
	p.onClose(func() { _ = st.Close(context.Background()) })
	p.checks["mongodb"] = st.Ping
	return nil
}

// openPubSub connects to addr (pstest or an emulator) or, without it, to
// PUBSUB_EMULATOR_HOST or Google Cloud. ensure creates topic and
// subscription when missing (emulators; on Google Cloud, Terraform does).
func (p *parts) openPubSub(ctx context.Context, addr string, ensure bool) error {
	project := p.set.PubSubProject
	if project == "" {
		return fmt.Errorf("PUBSUB_PROJECT is not set")
	}
	c, err := pubsubroute.Connect(ctx, project, addr)
	if err != nil {
		return err
	}
	if ensure {
		ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := pubsubroute.EnsureTopology(ectx, c, p.set.PubSubTopic, p.set.PubSubSub); err != nil {
			_ = c.Close()
			return err
		}
	}
	p.ps = c
	p.onClose(func() { _ = c.Close() })
	return nil
}

// snapshotSource is the realtime hub's Source: the view's snapshot as JSON.
func (p *parts) snapshotSource() realtime.Source {
	return func(ctx context.Context) ([]byte, error) {
		s, err := p.view.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		return json.Marshal(s)
	}
}

func (p *parts) newHub() (*realtime.Hub, error) {
	return realtime.New(realtime.Config{
		Source:         p.snapshotSource(),
		Redis:          p.rdb,
		Channel:        stats.ChangedChannel,
		AllowedOrigins: p.set.origins(),
		Unchanged:      realtime.IgnoreKeys("generated_at"),
		Logger:         p.log.With("part", "realtime"),
		Registerer:     p.m.Registry,
	})
}

// health adds /healthz and /health (the process runs), /readyz and /ready (its dependencies answer)
// and /metrics to mux.
func (p *parts) health(mux *http.ServeMux) {
	alive := func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
	// /health and /ready: the same answers on paths that do not end in "z", which Cloud Run
	// may reserve from outside (https://cloud.google.com/run/docs/known-issues): external checks
	// use these, in-container probes may use either.
	mux.HandleFunc("GET /healthz", alive)
	mux.HandleFunc("GET /health", alive)
	ready := func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		out := map[string]string{}
		code := http.StatusOK
		for name, check := range p.checks {
			if err := check(ctx); err != nil {
				out[name] = err.Error()
				code = http.StatusServiceUnavailable
			} else {
				out[name] = "ok"
			}
		}
		httpx.WriteJSON(w, code, out)
	}
	mux.HandleFunc("GET /readyz", ready)
	mux.HandleFunc("GET /ready", ready)
	mux.Handle("GET /metrics", p.m.Handler())
	// Profiles for `make bench -profile` and operators, behind the admin token.
	admin := func(h http.HandlerFunc) http.HandlerFunc { return httpx.RequireAdmin(p.set.AdminToken, p.log, h) }
	mux.HandleFunc("GET /debug/pprof/", admin(pprof.Index))
	mux.HandleFunc("GET /debug/pprof/profile", admin(pprof.Profile))
	mux.HandleFunc("GET /debug/pprof/trace", admin(pprof.Trace))
	mux.HandleFunc("GET /debug/pprof/symbol", admin(pprof.Symbol))
	mux.HandleFunc("GET /debug/pprof/cmdline", admin(pprof.Cmdline))
}

// webHandler serves the built dashboard from dir, with index.html for
// unknown paths (a single-page app), or a short page saying how to build it.
func webHandler(dir string) http.Handler {
	index := filepath.Join(dir, "index.html")
	files := http.FileServer(http.Dir(dir))
	// Security headers on every answer, and no directory listings.
	return httpx.SecureStatic(dir, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(index); err != nil {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><meta charset="utf-8"><title>vacunometro</title>
<h1>vacunometro</h1><p>The dashboard is not built. Run <code>make web</code> (or <code>make run</code>).</p>
<p>Statistics: <a href="/api/stats">/api/stats</a> · WebSocket: <code>/ws</code></p>`)
			return
		}
		clean := filepath.Clean("/" + r.URL.Path)
		if clean != "/" {
			if _, err := os.Stat(filepath.Join(dir, clean)); err != nil && !strings.HasPrefix(clean, "/assets/") {
				http.ServeFile(w, r, index)
				return
			}
		}
		if strings.HasPrefix(clean, "/assets/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	}))
}
