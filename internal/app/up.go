package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vacunometro/vacunometro/internal/embedded"
	"github.com/vacunometro/vacunometro/internal/httpx"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/route/redisroute"
	"github.com/vacunometro/vacunometro/internal/split"
	"github.com/vacunometro/vacunometro/internal/store"
)

// runUp: every tier in one process, over the real services or embedded
// ones. It composes the same builders as the one-tier commands.
func runUp(ctx context.Context, set Settings, args []string, stdout, stderr *os.File) error {
	fs := newFlagSet("up", stderr)
	var sf serverFlags
	sf.register(fs, set.defaultAddr("8080"))
	data := fs.String("data", ".vacunometro", "data directory of the embedded services (kept across restarts)")
	fs.StringVar(&set.Split, "split", set.Split, "route weights, e.g. grpc=34,redis=33,pubsub=33 (SPLIT)")
	fs.StringVar(&set.WebDir, "web", set.WebDir, "directory of the built dashboard (WEB_DIR)")
	grpcAddr := fs.String("grpc-addr", "127.0.0.1:0", "loopback address of the in-process gRPC server")
	fs.StringVar(&set.Faults, "faults", set.Faults, "inject faults into routes, e.g. pubsub:error=0.3,latency=200ms (FAULTS; demos and tests)")
	set.quotaFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(set, stderr)
	if _, err := split.Parse(set.Split, route.All); err != nil {
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
		tok, err := localAdminToken(*data)
		if err != nil {
			return err
		}
		set.AdminToken = tok
	}
	// The producer "local" posts with this key (made on the first start,
	// kept in DATA/producer-key) unless LOCAL_PRODUCER_KEY gives one.
	key, keyPath, err := localProducerKey(set, *data)
	if err != nil {
		return fmt.Errorf("LOCAL_PRODUCER_KEY: %w", err)
	}
	set.LocalProducerKey = key
	c := newClients(set, log)
	defer c.close()
	if err := c.setupTracing(ctx, "vacunometro"); err != nil {
		return err
	}
	svc, err := startServices(ctx, c, *data)
	if err != nil {
		return err
	}
	if err := c.openStore(ctx, svc.mongoURI); err != nil {
		return err
	}
	if set.MongoURI == "" {
		if err := embedded.IndexIDs(ctx, filepath.Join(*data, "mongo"), set.MongoDatabase, store.Collection); err != nil {
			return err
		}
	}
	if err := c.openRedis(ctx, svc.redisURL); err != nil {
		return err
	}
	if err := c.openPubSub(ctx, svc.pubsubAddr, svc.ensureTopology); err != nil {
		return err
	}

	cons, err := buildConsumers(ctx, c, consumerOptions{grpcListen: *grpcAddr, workers: queueWorkers(), grace: sf.grace})
	if err != nil {
		return err
	}
	// Producers and consumers share this process: before the consumers
	// stop, let them drain what the queues hold, so that a graceful stop
	// leaves nothing behind even in pstest's memory.
	c.onClose(drainConsumers, func() { drainQueues(c, svc.pstest, sf.grace) })
	// One process: the configured split is published as the next version
	// (not adopted from an earlier run).
	in, err := buildIngest(ctx, c, ingestOptions{grpcAddr: cons.grpcAddr.String(), publishSplit: true})
	if err != nil {
		return err
	}
	rt, err := buildRealtime(ctx, c)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	in.register(mux)
	rt.register(mux, c)
	c.registerViewAdmin(mux)
	c.registerHealth(mux)
	c.publicAPI(mux)
	mux.Handle("GET /", webHandler(set.WebDir))

	srv := httpx.NewServer(mux, log, httpx.ServerOptions{})
	err = httpx.Serve(ctx, srv, sf.addr, sf.grace, func(a net.Addr) {
		url := "http://" + a.String()
		log.Info("vacunometro is up", "url", url, "split", in.weights.String(), "data", *data)
		where := "LOCAL_PRODUCER_KEY"
		if keyPath != "" {
			where = keyPath
		}
		fmt.Fprintf(stdout, "vacunometro is up: %s  (dashboard at /, API at /api/stats, admin token in %s, producer key of %q in %s)\n",
			url, filepath.Join(*data, "admin-token"), LocalProducer, where)
	})
	log.Info("shutting down: flushing routes, finishing consumers")
	return ignoreCanceled(err)
}

// services are where `up` finds MongoDB, Redis and Pub/Sub.
type services struct {
	mongoURI, redisURL string
	pubsubAddr         string           // pstest's address; "" for the emulator or Google Cloud
	pstest             *embedded.PubSub // nil unless embedded
	ensureTopology     bool             // create topic and subscription (not on Google Cloud)
}

// startServices starts the embedded services for those not configured
// (MONGODB_URI, REDIS_URL, PUBSUB_EMULATOR_HOST or PUBSUB_PROJECT); they
// stop in the stopServices phase.
func startServices(ctx context.Context, c *clients, data string) (services, error) {
	log := c.log
	svc := services{mongoURI: c.set.MongoURI, redisURL: c.set.RedisURL, ensureTopology: true}
	if svc.mongoURI == "" {
		f, err := embedded.StartFerretDB(ctx, filepath.Join(data, "mongo"), "127.0.0.1:0", log)
		if err != nil {
			return svc, err
		}
		c.onClose(stopServices, f.Stop)
		svc.mongoURI = f.URI
		// `vacunometro producers` finds the embedded MongoDB here.
		if err := os.WriteFile(filepath.Join(data, "mongo-url"), []byte(svc.mongoURI+"\n"), 0o600); err != nil {
			log.Warn("write the embedded MongoDB URL for other commands", "err", err)
		}
		log.Info("embedded MongoDB: FerretDB on SQLite", "dir", filepath.Join(data, "mongo"), "uri", svc.mongoURI)
	}
	if svc.redisURL == "" {
		r, err := embedded.StartRedis(ctx, filepath.Join(data, "redis"), log)
		if err != nil {
			return svc, err
		}
		c.onClose(stopServices, r.Stop)
		svc.redisURL = r.URL
		// Other commands (rollout, rebuild) find the embedded Redis here.
		if err := os.WriteFile(filepath.Join(data, "redis-url"), []byte(svc.redisURL+"\n"), 0o600); err != nil {
			log.Warn("write the embedded Redis URL for other commands", "err", err)
		}
		log.Info("embedded Redis", "kind", r.Kind, "url", svc.redisURL)
	}
	switch {
	case c.set.PubSubEmulator != "":
		if c.set.PubSubProject == "" {
			c.set.PubSubProject = "local"
		}
	case c.set.PubSubProject != "":
		svc.ensureTopology = false // Google Cloud: Terraform made them
	default:
		ps, err := embedded.StartPubSub()
		if err != nil {
			return svc, err
		}
		c.onClose(stopServices, ps.Stop)
		svc.pstest = ps
		svc.pubsubAddr = ps.Addr
		c.set.PubSubProject = "local"
		log.Info("embedded Pub/Sub: pstest (in memory)", "addr", svc.pubsubAddr)
	}
	return svc, nil
}

// drainQueues waits, at most grace, until the redis stream and pstest
// (when embedded) hold nothing more to store.
func drainQueues(c *clients, pstest *embedded.PubSub, grace time.Duration) {
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		n, err := redisroute.Lag(context.Background(), c.rdb, redisroute.DefaultStream)
		pending := 0
		if pstest != nil {
			pending = pstest.Pending()
		}
		if (err != nil || n == 0) && pending == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.log.Warn("queues not drained before the grace period ended; the redis stream keeps its entries")
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
