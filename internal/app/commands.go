package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vacunometro/vacunometro/internal/httpx"
	"github.com/vacunometro/vacunometro/internal/route"
)

// The commands that run one tier each. Each opens its clients, builds its
// tier (tier_*.go), serves, and closes in the order of lifecycle.go.

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// runIngest: the HTTP ingest alone (Cloud Run's ingest tier).
func runIngest(ctx context.Context, set Settings, args []string, stderr *os.File) error {
	fs := newFlagSet("ingest", stderr)
	var sf serverFlags
	sf.register(fs, set.defaultAddr("8080"))
	fs.StringVar(&set.Split, "split", set.Split, "route weights (SPLIT)")
	maxRecords := fs.Int("max-records", 1000, "most records in one request")
	fs.StringVar(&set.Faults, "faults", set.Faults, "inject faults into routes, e.g. pubsub:error=0.3,latency=200ms (FAULTS; demos and tests)")
	set.quotaFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(set, stderr).With("part", "ingest")
	h, closeAll, err := ingestProcess(ctx, set, log, *maxRecords)
	if err != nil {
		return err
	}
	defer closeAll()
	srv := httpx.NewServer(h, log, httpx.ServerOptions{})
	return ignoreCanceled(httpx.Serve(ctx, srv, sf.addr, sf.grace, func(a net.Addr) {
		log.Info("ingest listening", "addr", a.String(), "split", set.Split)
	}))
}

// BuildIngest returns the ingest tier's handler (records, stats, split,
// health, metrics) and a function that flushes and closes its clients. The
// Cloud Run function in functions/ingest serves it.
func BuildIngest(ctx context.Context, env Env, log *slog.Logger) (http.Handler, func(), error) {
	return ingestProcess(ctx, loadSettings(env), log, 1000)
}

// ingestProcess: Redis and Pub/Sub only when configured (their routes
// exist only then).
func ingestProcess(ctx context.Context, set Settings, log *slog.Logger, maxRecords int) (http.Handler, func(), error) {
	c := newClients(set, log)
	fail := func(err error) (http.Handler, func(), error) { c.close(); return nil, nil, err }
	if err := c.setupTracing(ctx, "vacunometro-ingest"); err != nil {
		return fail(err)
	}
	if set.RedisURL != "" {
		if err := c.openRedis(ctx, set.RedisURL); err != nil {
			return fail(err)
		}
	}
	if set.PubSubProject != "" {
		if err := c.openPubSub(ctx, "", set.PubSubEmulator != ""); err != nil {
			return fail(err)
		}
	}
	in, err := buildIngest(ctx, c, ingestOptions{grpcAddr: set.GRPCAddress, maxRecords: maxRecords})
	if err != nil {
		return fail(err)
	}
	mux := http.NewServeMux()
	in.register(mux)
	c.registerStats(mux)
	c.registerHealth(mux)
	c.publicAPI(mux)
	return mux, c.close, nil
}

// consumerProcess opens what a consumer needs (tracing, MongoDB, Redis,
// and Pub/Sub when withPubSub) and builds the consumers tier.
func consumerProcess(ctx context.Context, c *clients, service string, withPubSub bool, o consumerOptions) (*consumerTier, error) {
	if err := c.setupTracing(ctx, service); err != nil {
		return nil, err
	}
	if err := c.openStore(ctx, c.set.MongoURI); err != nil {
		return nil, err
	}
	if err := c.openRedis(ctx, c.set.RedisURL); err != nil {
		return nil, err
	}
	if withPubSub {
		if err := c.openPubSub(ctx, "", c.set.PubSubEmulator != ""); err != nil {
			return nil, err
		}
	}
	return buildConsumers(ctx, c, o)
}

// serveHealth serves mux on addr until ctx ends, in the background; the
// returned wait blocks until it has stopped.
func serveHealth(ctx context.Context, c *clients, mux *http.ServeMux, addr string, grace time.Duration) (errc <-chan error, wait func()) {
	ch := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := httpx.Serve(ctx, httpx.NewServer(mux, c.log, httpx.ServerOptions{}), addr, grace, nil); err != nil {
			ch <- err
		}
	}()
	return ch, wg.Wait
}

// runGRPCServer: the gRPC route's server (GKE).
func runGRPCServer(ctx context.Context, set Settings, args []string, stderr *os.File) error {
	fs := newFlagSet("grpc-server", stderr)
	addr := fs.String("addr", set.GRPCListen, "gRPC listen address (GRPC_ADDR)")
	healthAddr := fs.String("health-addr", set.HealthAddr, "HTTP address of /healthz, /readyz, /metrics (HEALTH_ADDR)")
	grace := fs.Duration("grace", 15*time.Second, "time to finish in-flight calls on SIGTERM")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(set, stderr).With("part", "grpc-server")
	c := newClients(set, log)
	defer c.close()
	t, err := consumerProcess(ctx, c, "vacunometro-grpc-server", false, consumerOptions{grpcListen: *addr, grace: *grace})
	if err != nil {
		return err
	}
	log.Info("grpc server listening", "addr", t.grpcAddr.String())
	mux := http.NewServeMux()
	c.registerHealth(mux)
	c.registerViewAdmin(mux)
	hctx, stopHealth := context.WithCancel(ctx)
	defer stopHealth()
	herr, _ := serveHealth(hctx, c, mux, *healthAddr, *grace)
	done := make(chan error, 1)
	go func() { done <- t.wait(ctx) }()
	select {
	case err := <-herr:
		return ignoreCanceled(err)
	case err := <-done:
		return err
	}
}

// runWorker: a route's consumer (GKE).
func runWorker(ctx context.Context, set Settings, which string, args []string, stderr *os.File) error {
	fs := newFlagSet("worker "+which, stderr)
	healthAddr := fs.String("health-addr", set.HealthAddr, "HTTP address of /healthz, /readyz, /metrics (HEALTH_ADDR)")
	consumer := fs.String("consumer", set.Hostname, "consumer name in the Redis group (default host-pid)")
	claimIdle := fs.Duration("claim-idle", 30*time.Second, "redis: claim entries another consumer left pending this long")
	streams := fs.Int("streams", 8, "pubsub: streaming-pull streams")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !slices.Contains(queueWorkers(), which) {
		return usageError("unknown worker %q: worker %s", which, strings.Join(queueWorkers(), " | worker "))
	}
	log := newLogger(set, stderr).With("part", "worker-"+which)
	c := newClients(set, log)
	defer c.close()
	t, err := consumerProcess(ctx, c, "vacunometro-worker-"+which, which == route.PubSub, consumerOptions{
		workers: []string{which}, consumer: *consumer, claimIdle: *claimIdle, streams: *streams,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	c.registerHealth(mux)
	hctx, stopHealth := context.WithCancel(ctx)
	defer stopHealth()
	herr, waitHealth := serveHealth(hctx, c, mux, *healthAddr, 5*time.Second)
	go func() {
		if err := <-herr; err != nil {
			log.Error("health server", "err", err)
		}
	}()
	log.Info("worker running", "route", which)
	err = t.wait(ctx)
	stopHealth() // also when the worker ended on its own
	waitHealth()
	return err
}

// runRealtime: the WebSocket tier (Cloud Run), with /api/stats and the dashboard.
func runRealtime(ctx context.Context, set Settings, args []string, stderr *os.File) error {
	fs := newFlagSet("realtime", stderr)
	var sf serverFlags
	sf.register(fs, set.defaultAddr("8090"))
	fs.StringVar(&set.WebDir, "web", set.WebDir, "directory of the built dashboard (WEB_DIR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(set, stderr).With("part", "realtime")
	h, closeAll, err := realtimeProcess(ctx, set, log)
	if err != nil {
		return err
	}
	defer closeAll()
	return ignoreCanceled(httpx.Serve(ctx, httpx.NewServer(h, log, httpx.ServerOptions{}), sf.addr, sf.grace, func(a net.Addr) {
		log.Info("realtime listening", "addr", a.String())
	}))
}

// BuildRealtime returns the realtime tier's handler (WebSocket, stats, the
// dashboard, health, metrics) and a function that closes it. The Cloud Run
// function in functions/realtime serves it.
func BuildRealtime(ctx context.Context, env Env, log *slog.Logger) (http.Handler, func(), error) {
	return realtimeProcess(ctx, loadSettings(env), log)
}

func realtimeProcess(ctx context.Context, set Settings, log *slog.Logger) (http.Handler, func(), error) {
	c := newClients(set, log)
	if err := c.openRedis(ctx, set.RedisURL); err != nil {
		c.close()
		return nil, nil, err
	}
	rt, err := buildRealtime(ctx, c)
	if err != nil {
		c.close()
		return nil, nil, err
	}
	mux := http.NewServeMux()
	rt.register(mux, c)
	c.registerHealth(mux)
	c.publicAPI(mux)
	mux.Handle("GET /", webHandler(set.WebDir))
	return mux, c.close, nil
}
