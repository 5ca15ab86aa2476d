package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vacunometro/vacunometro/internal/embedded"
	"github.com/vacunometro/vacunometro/internal/httpx"
	"github.com/vacunometro/vacunometro/internal/ingest"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/route/fault"
	"github.com/vacunometro/vacunometro/internal/route/grpcroute"
	"github.com/vacunometro/vacunometro/internal/route/pubsubroute"
	"github.com/vacunometro/vacunometro/internal/route/redisroute"
	"github.com/vacunometro/vacunometro/internal/split"
	"github.com/vacunometro/vacunometro/internal/store"
)

func runUp(ctx context.Context, set Settings, args []string, stdout, stderr *os.File) error {
	fs := newFlagSet("up", stderr)
	var sf serverFlags
	sf.register(fs, set.defaultAddr("8080"))
	data := fs.String("data", ".vacunometro", "data directory of the embedded services (kept across restarts)")
	splitFlag := fs.String("split", set.Split, "route weights, e.g. grpc=34,redis=33,pubsub=33 (SPLIT)")
	web := fs.String("web", set.WebDir, "directory of the built dashboard (WEB_DIR)")
	grpcAddr := fs.String("grpc-addr", "127.0.0.1:0", "loopback address of the in-process gRPC server")
	fs.StringVar(&set.Faults, "faults", set.Faults, "inject faults into routes, e.g. pubsub:error=0.3,latency=200ms (FAULTS; demos and tests)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(set, stderr)
	weights, err := split.Parse(*splitFlag, route.All)
	if err != nil {
		return usageError("%v", err)
	}
	// Everything `up` writes (MongoDB's SQLite files, Redis's append-only
	// files, the admin token) holds personal data or secrets: private to
	// the user, also in a data directory made by an older version.
	defer syscall.Umask(syscall.Umask(0o077))
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := embedded.MakePrivate(*data); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if set.AdminToken == "" {
		set.AdminToken, err = localAdminToken(*data)
		if err != nil {
			return err
		}
	}
	p := newParts(set, log)
	defer p.close()
	if err := p.setupTracing(ctx, "vacunometro"); err != nil {
		return err
	}

	// The real services, or embedded ones.
	mongoURI := set.MongoURI
	if mongoURI == "" {
		f, err := embedded.StartFerretDB(ctx, filepath.Join(*data, "mongo"), "127.0.0.1:0", log)
		if err != nil {
			return err
		}
		p.onClose(f.Stop)
		mongoURI = f.URI
		log.Info("embedded MongoDB: FerretDB on SQLite", "dir", filepath.Join(*data, "mongo"), "uri", mongoURI)
	}
	redisURL := set.RedisURL
	if redisURL == "" {
		r, err := embedded.StartRedis(ctx, filepath.Join(*data, "redis"), log)
		if err != nil {
			return err
		}
		p.onClose(r.Stop)
		redisURL = r.URL
		// Other commands (rollout, rebuild) find the embedded Redis here.
		if err := os.WriteFile(filepath.Join(*data, "redis-url"), []byte(redisURL+"\n"), 0o600); err != nil {
			log.Warn("write the embedded Redis URL for other commands", "err", err)
		}
		log.Info("embedded Redis", "kind", r.Kind, "url", redisURL)
	}
	psAddr := ""
	var pstest *embedded.PubSub
	ensureTopology := true
	switch {
	case set.PubSubEmulator != "":
		if p.set.PubSubProject == "" {
			p.set.PubSubProject = "local"
		}
	case set.PubSubProject != "":
		ensureTopology = false // Google Cloud: Terraform made them
	default:
		ps, err := embedded.StartPubSub()
		if err != nil {
			return err
		}
		p.onClose(ps.Stop)
		pstest = ps
		psAddr = ps.Addr
		p.set.PubSubProject = "local"
		log.Info("embedded Pub/Sub: pstest (in memory)", "addr", psAddr)
	}

	if err := p.openStore(ctx, mongoURI); err != nil {
		return err
	}
	if set.MongoURI == "" {
		if err := embedded.IndexIDs(ctx, filepath.Join(*data, "mongo"), p.set.MongoDatabase, store.Collection); err != nil {
			return err
		}
	}
	if err := p.openRedis(ctx, redisURL); err != nil {
		return err
	}
	if err := p.openSink(ctx); err != nil {
		return err
	}
	if err := p.openPubSub(ctx, psAddr, ensureTopology); err != nil {
		return err
	}

	// Consumers: the gRPC server on loopback and both workers.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	lis, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		stopWork()
		return fmt.Errorf("grpc listen: %w", err)
	}
	gsvc := grpcroute.NewServer(p.sink, p.cat, log)
	gsvc.Tracer = p.tr
	gs := grpcroute.NewGRPCServer(gsvc)
	go func() { _ = gs.Serve(lis) }()
	redisWorker := redisroute.NewWorker(p.rdb, p.sink, p.cat, p.m, log, redisroute.WorkerOptions{Tracer: p.tr})
	psWorker := pubsubroute.NewWorker(p.ps, p.sink, p.cat, p.m, log, pubsubroute.WorkerOptions{Subscription: p.set.PubSubSub, Tracer: p.tr})
	workers.Add(2)
	go func() { defer workers.Done(); _ = redisWorker.Run(workCtx) }()
	go func() { defer workers.Done(); _ = psWorker.Run(workCtx) }()
	// Stop consumers after the producers have flushed (closers run in reverse).
	p.onClose(func() {
		stopWork()
		workers.Wait()
		gs.GracefulStop()
	})

	// Before the consumers stop, let them drain what the queues hold, so that
	// a graceful stop leaves nothing behind even in pstest's memory.
	p.onClose(func() {
		deadline := time.Now().Add(sf.grace)
		for time.Now().Before(deadline) {
			n, err := redisroute.Lag(context.Background(), p.rdb, redisroute.DefaultStream)
			pending := 0
			if pstest != nil {
				pending = pstest.Pending()
			}
			if (err != nil || n == 0) && pending == 0 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		log.Warn("queues not drained before the grace period ended; the redis stream keeps its entries")
	})

	// Producers: the routes of the split.
	grpcClient, err := grpcroute.Dial(lis.Addr().String(), grpcroute.Options{})
	if err != nil {
		return err
	}
	routes := map[string]route.Route{
		route.GRPC:   grpcClient,
		route.Redis:  redisroute.NewProducer(p.rdb, redisroute.ProducerOptions{}),
		route.PubSub: pubsubroute.NewPublisher(p.ps, pubsubroute.PublisherOptions{Topic: p.set.PubSubTopic}),
	}
	p.onClose(func() {
		for _, r := range routes {
			_ = r.Close()
		}
	})
	if set.Faults != "" {
		if err := fault.Apply(routes, set.Faults, log); err != nil {
			return usageError("%v", err)
		}
	}

	splitter := split.New(weights)
	shared := startSharedSplit(ctx, workCtx, p, splitter, weights, route.All, false, log)
	hub, err := p.newHub()
	if err != nil {
		return err
	}
	go func() { _ = hub.Run(workCtx) }()

	mux := http.NewServeMux()
	ingest.New(ingest.Config{
		Decoder:  &record.Decoder{Catalog: p.cat, IDs: &record.IDGenerator{}},
		Routes:   routes,
		Splitter: splitter, Shared: shared, IDClaims: idClaims(p), View: p.view, AdminToken: set.AdminToken, Failover: true,
		Metrics: p.m, Log: log, Tracer: p.tr,
	}).Register(mux)
	mux.Handle("GET /ws", hub)
	mux.HandleFunc("POST /api/admin/rebuild", p.rebuildHandler())
	mux.HandleFunc("GET /api/admin/rebuild", p.rebuildHandler())
	p.health(mux)
	p.publicAPI(mux)
	mux.Handle("GET /", webHandler(*web))

	srv := httpx.NewServer(mux, log, httpx.ServerOptions{})
	err = httpx.Serve(ctx, srv, sf.addr, sf.grace, func(a net.Addr) {
		url := "http://" + a.String()
		log.Info("vacunometro is up", "url", url, "split", weights.String(), "data", *data)
		fmt.Fprintf(stdout, "vacunometro is up: %s  (dashboard at /, API at /api/stats, admin token in %s)\n",
			url, filepath.Join(*data, "admin-token"))
	})
	_ = hub.Close()
	log.Info("shutting down: flushing routes, finishing consumers")
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// localAdminToken returns the one-command mode's admin token, made once and
// kept (mode 0600) in the data directory.
func localAdminToken(dir string) (string, error) {
	path := filepath.Join(dir, "admin-token")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tok := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return tok, nil
}
