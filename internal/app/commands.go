package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vacunometro/vacunometro/internal/httpx"
	"github.com/vacunometro/vacunometro/internal/ingest"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/route/fault"
	"github.com/vacunometro/vacunometro/internal/route/grpcroute"
	"github.com/vacunometro/vacunometro/internal/route/pubsubroute"
	"github.com/vacunometro/vacunometro/internal/route/redisroute"
	"github.com/vacunometro/vacunometro/internal/split"
)

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
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(set, stderr).With("part", "ingest")
	h, closeAll, err := buildIngest(ctx, set, log, *maxRecords)
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
	return buildIngest(ctx, loadSettings(env), log, 1000)
}

func buildIngest(ctx context.Context, set Settings, log *slog.Logger, maxRecords int) (http.Handler, func(), error) {
	p := newParts(set, log)
	fail := func(err error) (http.Handler, func(), error) { p.close(); return nil, nil, err }
	if err := p.setupTracing(ctx, "vacunometro-ingest"); err != nil {
		return fail(err)
	}
	routes := map[string]route.Route{}
	c, err := grpcroute.Dial(set.GRPCAddress, grpcroute.Options{})
	if err != nil {
		return fail(err)
	}
	routes[route.GRPC] = c
	if set.RedisURL != "" {
		if err := p.openRedis(ctx, set.RedisURL); err != nil {
			return fail(err)
		}
		routes[route.Redis] = redisroute.NewProducer(p.rdb, redisroute.ProducerOptions{})
	}
	if set.PubSubProject != "" {
		if err := p.openPubSub(ctx, "", set.PubSubEmulator != ""); err != nil {
			return fail(err)
		}
		routes[route.PubSub] = pubsubroute.NewPublisher(p.ps, pubsubroute.PublisherOptions{Topic: set.PubSubTopic})
	}
	p.onClose(func() {
		for _, r := range routes {
			_ = r.Close()
		}
	})
	if set.Faults != "" {
		if err := fault.Apply(routes, set.Faults, log); err != nil {
			return fail(usageError("%v", err))
		}
	}
	var names []string
	for _, n := range route.All {
		if routes[n] != nil {
			names = append(names, n)
		}
	}
	weights, err := split.Parse(set.Split, names)
	if err != nil {
		return fail(usageError("%v (configured routes: %s; redis needs REDIS_URL, pubsub needs PUBSUB_PROJECT)", err, strings.Join(names, ", ")))
	}
	splitter := split.New(weights)
	var shared *split.Shared
	if p.rdb != nil {
		followCtx, stopFollow := context.WithCancel(context.WithoutCancel(ctx))
		p.onClose(stopFollow)
		shared = startSharedSplit(ctx, followCtx, p, splitter, weights, names, true, log)
	}
	mux := http.NewServeMux()
	ingest.New(ingest.Config{
		Decoder:  &record.Decoder{Catalog: p.cat, IDs: &record.IDGenerator{}, MaxRecords: maxRecords},
		Routes:   routes,
		Splitter: splitter, Shared: shared, IDClaims: idClaims(p), View: p.view, AdminToken: set.AdminToken, Failover: true,
		Metrics: p.m, Log: log, Tracer: p.tr,
	}).Register(mux)
	p.health(mux)
	p.publicAPI(mux)
	return mux, p.close, nil
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
	p := newParts(set, log)
	defer p.close()
	if err := p.setupTracing(ctx, "vacunometro-grpc-server"); err != nil {
		return err
	}
	if err := p.openStore(ctx, set.MongoURI); err != nil {
		return err
	}
	if err := p.openRedis(ctx, set.RedisURL); err != nil {
		return err
	}
	if err := p.openSink(ctx); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("grpc listen %s: %w", *addr, err)
	}
	gsvc := grpcroute.NewServer(p.sink, p.cat, log)
	gsvc.Tracer = p.tr
	gs := grpcroute.NewGRPCServer(gsvc)
	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(lis) }()
	log.Info("grpc server listening", "addr", lis.Addr().String())
	mux := http.NewServeMux()
	p.health(mux)
	mux.HandleFunc("POST /api/admin/rebuild", p.rebuildHandler())
	mux.HandleFunc("GET /api/admin/rebuild", p.rebuildHandler())
	hctx, stopHealth := context.WithCancel(ctx)
	defer stopHealth()
	go func() {
		errc <- httpx.Serve(hctx, httpx.NewServer(mux, log, httpx.ServerOptions{}), *healthAddr, *grace, nil)
	}()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, context.Canceled) {
			gs.Stop()
			return err
		}
	}
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(*grace):
		gs.Stop()
	}
	return nil
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
	if which != route.Redis && which != route.PubSub {
		return usageError("unknown worker %q: worker redis | worker pubsub", which)
	}
	log := newLogger(set, stderr).With("part", "worker-"+which)
	p := newParts(set, log)
	defer p.close()
	if err := p.setupTracing(ctx, "vacunometro-worker-"+which); err != nil {
		return err
	}
	if err := p.openStore(ctx, set.MongoURI); err != nil {
		return err
	}
	if err := p.openRedis(ctx, set.RedisURL); err != nil {
		return err
	}
	if err := p.openSink(ctx); err != nil {
		return err
	}
	var run func(context.Context) error
	switch which {
	case route.Redis:
		w := redisroute.NewWorker(p.rdb, p.sink, p.cat, p.m, log, redisroute.WorkerOptions{Consumer: *consumer, ClaimIdle: *claimIdle, Tracer: p.tr})
		run = w.Run
	case route.PubSub:
		if err := p.openPubSub(ctx, "", set.PubSubEmulator != ""); err != nil {
			return err
		}
		w := pubsubroute.NewWorker(p.ps, p.sink, p.cat, p.m, log, pubsubroute.WorkerOptions{Subscription: set.PubSubSub, Streams: *streams, Tracer: p.tr})
		run = w.Run
	}
	mux := http.NewServeMux()
	p.health(mux)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := httpx.Serve(ctx, httpx.NewServer(mux, log, httpx.ServerOptions{}), *healthAddr, 5*time.Second, nil); err != nil {
			log.Error("health server", "err", err)
		}
	}()
	log.Info("worker running", "route", which)
	err := run(ctx)
	wg.Wait()
	return ignoreCanceled(err)
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
	h, closeAll, err := buildRealtime(ctx, set, log)
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
	return buildRealtime(ctx, loadSettings(env), log)
}

func buildRealtime(ctx context.Context, set Settings, log *slog.Logger) (http.Handler, func(), error) {
	p := newParts(set, log)
	if err := p.openRedis(ctx, set.RedisURL); err != nil {
		p.close()
		return nil, nil, err
	}
	hub, err := p.newHub()
	if err != nil {
		p.close()
		return nil, nil, err
	}
	hctx, stopHub := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(hctx) }()
	p.onClose(func() {
		_ = hub.Close()
		stopHub()
		<-done
	})
	mux := http.NewServeMux()
	ing := ingest.New(ingest.Config{View: p.view, Metrics: p.m, Log: log, Splitter: split.New(split.Weights{})})
	mux.Handle("GET /api/stats", httpx.Instrument(p.m, "stats", http.HandlerFunc(ing.HandleStats)))
	mux.Handle("GET /ws", hub)
	p.health(mux)
	p.publicAPI(mux)
	mux.Handle("GET /", webHandler(set.WebDir))
	return mux, p.close, nil
}
