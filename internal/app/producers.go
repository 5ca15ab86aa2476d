package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/api/idtoken"

	"github.com/vacunometro/vacunometro/internal/ingest"
	"github.com/vacunometro/vacunometro/internal/producer"
)

// This file wires the producers (internal/producer): the key table every
// ingest instance checks, its mirror kept by the processes that hold
// MongoDB and Redis, the local producer of `up`, and `vacunometro
// producers`.

// LocalProducer is the producer `up` makes on its first start.
const LocalProducer = "local"

// The local producer's quota when it is made: one laptop's whole load
// (make bench pushes about 12k records/s), not the default of a site.
// `vacunometro producers quota local` changes it.
const localRate, localBurst = 100_000, 200_000

// producerRegistry needs the store and Redis.
func (c *clients) producerRegistry() *producer.Registry {
	return producer.NewRegistry(c.store.Database(), c.rdb)
}

// startProducerSync makes the local producer accept LOCAL_PRODUCER_KEY
// when set, publishes the key table to Redis, and republishes it every few
// seconds (a wiped Redis gets it back) until the process closes.
func (c *clients) startProducerSync(ctx context.Context) error {
	reg := c.producerRegistry()
	if key := c.set.LocalProducerKey; key != "" {
		changed, err := reg.Ensure(ctx, LocalProducer, key, localRate, localBurst)
		if err != nil {
			return fmt.Errorf("producer %q from LOCAL_PRODUCER_KEY: %w", LocalProducer, err)
		}
		if changed {
			c.log.Info("producer ready", "producer", LocalProducer)
		}
	}
	if err := reg.Publish(ctx); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		reg.Sync(sctx, 5*time.Second, func(err error) { c.log.Warn("producer table not published", "err", err) })
	}()
	c.onClose(stopViewRepair, func() { cancel(); <-done })
	return nil
}

// producerKeys loads the ingest's key table from Redis and keeps it fresh
// until the process closes.
func (c *clients) producerKeys(ctx context.Context) (*producer.Keys, error) {
	if c.rdb == nil {
		return nil, errors.New("the ingest reads the producers' keys from Redis: set REDIS_URL")
	}
	keys := producer.NewKeys(c.rdb, c.log)
	if err := keys.Load(ctx); err != nil {
		c.log.Warn("producer key table not loaded yet: records are refused (503) until it is", "err", err)
	}
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); keys.Run(kctx) }()
	c.onClose(closeClients, func() { cancel(); <-done })
	return keys, nil
}

// localProducerKey returns up's local producer key: LOCAL_PRODUCER_KEY, or
// the one kept (mode 0600) in DATA/producer-key, made on the first start.
func localProducerKey(set Settings, dir string) (key, path string, err error) {
	if set.LocalProducerKey != "" {
		return set.LocalProducerKey, "", producer.ValidKey(set.LocalProducerKey)
	}
	path = filepath.Join(dir, "producer-key")
	if b, err := os.ReadFile(path); err == nil && producer.ValidKey(strings.TrimSpace(string(b))) == nil {
		return strings.TrimSpace(string(b)), path, nil
	}
	key, err = producer.NewKey()
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("producer key: %w", err)
	}
	return key, path, nil
}

const producersUsage = `vacunometro producers: who may post records (keys, quotas, purge).

  vacunometro producers add NAME [--rate R --burst B]   make a producer; prints its key once
  vacunometro producers list                            names, created, revoked, quotas (never keys)
  vacunometro producers revoke NAME                     its key stops working within seconds everywhere
  vacunometro producers quota NAME --rate R --burst B   change its quota (0: the ingest's default)
  vacunometro producers purge NAME --since RFC3339 [--dry-run]
                                                        delete what it sent since then, then rebuild the view

They need MONGODB_URI and REDIS_URL, or --data DIR of a running ` + "`up`" + ` with embedded services.
`

// runProducers: `vacunometro producers ...`.
func runProducers(ctx context.Context, set Settings, args []string, stdout, stderr *os.File) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, producersUsage)
		if len(args) == 0 {
			return usageError("producers needs a subcommand: add, list, revoke, quota or purge")
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	fs := newFlagSet("producers "+sub, stderr)
	data := fs.String("data", ".vacunometro", "data directory of a running `up` (its embedded MongoDB and Redis), when MONGODB_URI / REDIS_URL are unset")
	rate := fs.Float64("rate", 0, "records per second (0: the ingest's default, QUOTA_RATE)")
	burst := fs.Int("burst", 0, "most records at once after a pause (0: the default, QUOTA_BURST)")
	since := fs.String("since", "", "purge: records received at or after this time (RFC 3339)")
	dry := fs.Bool("dry-run", false, "purge: count only, delete nothing")
	every := fs.Duration("progress", 2*time.Second, "purge: how often to print progress")
	// The name comes first (producers revoke NAME), the flags after it.
	var name string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("producers %s: unexpected %q", sub, fs.Arg(0))
	}
	needName := sub != "list"
	if needName && name == "" {
		return usageError("producers %s needs a producer name", sub)
	}
	if needName {
		if err := producer.ValidName(name); err != nil {
			return usageError("%v", err)
		}
	}
	var t time.Time
	switch sub {
	case "add", "list", "revoke":
	case "quota":
		if *rate <= 0 && *burst <= 0 {
			return usageError("producers quota %s needs --rate and/or --burst", name)
		}
	case "purge":
		if *since == "" {
			return usageError("producers purge %s needs --since (RFC 3339, e.g. 2021-09-01T00:00:00Z)", name)
		}
		var err error
		if t, err = time.Parse(time.RFC3339, *since); err != nil {
			return usageError("--since %q: want RFC 3339, e.g. 2021-09-01T00:00:00Z", *since)
		}
	default:
		return usageError("unknown producers subcommand %q: add, list, revoke, quota or purge", sub)
	}
	if err := producer.ValidQuota(*rate, *burst); err != nil {
		return usageError("%v", err)
	}
	mongoURI, redisURL := set.MongoURI, set.RedisURL
	if mongoURI == "" {
		mongoURI = readURLFile(filepath.Join(*data, "mongo-url"))
	}
	if redisURL == "" {
		redisURL = readURLFile(filepath.Join(*data, "redis-url"))
	}
	if mongoURI == "" || redisURL == "" {
		return fmt.Errorf("producers: set MONGODB_URI and REDIS_URL, or run `vacunometro up` (its services are found through --data %s)", *data)
	}
	log := newLogger(set, stderr).With("part", "producers")
	c := newClients(set, log)
	defer c.close()
	if err := c.openStore(ctx, mongoURI); err != nil {
		return err
	}
	if err := c.openRedis(ctx, redisURL); err != nil {
		return err
	}
	reg := c.producerRegistry()
	switch sub {
	case "add":
		key, err := reg.Add(ctx, name, *rate, *burst)
		if err != nil {
			return err
		}
		log.Info("producer added", "producer", name)
		fmt.Fprintf(stderr, "producer %q added; its key (shown only now; keep it secret, send it as Authorization: Bearer <key>):\n", name)
		fmt.Fprintln(stdout, key)
	case "list":
		all, err := reg.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCREATED\tREVOKED\tRATE\tBURST")
		for _, p := range all {
			rev, r, b := "-", "default", "default"
			if !p.Active() {
				rev = p.Revoked.Format(time.RFC3339)
			}
			if p.Rate > 0 {
				r = fmt.Sprintf("%g/s", p.Rate)
			}
			if p.Burst > 0 {
				b = fmt.Sprint(p.Burst)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Created.Format(time.RFC3339), rev, r, b)
		}
		return tw.Flush()
	case "revoke":
		p, err := reg.Revoke(ctx, name)
		if err != nil {
			return err
		}
		log.Info("producer revoked", "producer", name)
		fmt.Fprintf(stdout, "producer %q revoked at %s: every ingest refuses its key within %v\n", name, p.Revoked.Format(time.RFC3339), producer.RefreshEvery)
	case "quota":
		if err := reg.SetQuota(ctx, name, *rate, *burst); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "producer %q: quota %g records/s, burst %d (0: the default); in force within %v\n", name, *rate, *burst, producer.RefreshEvery)
	case "purge":
		return purgeProducer(ctx, c, name, t, *dry, *every, stdout)
	}
	return nil
}

func readURLFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// purgeProducer counts (dry run) or deletes the records name sent since t,
// then rebuilds the view so that the figures match MongoDB again.
func purgeProducer(ctx context.Context, c *clients, name string, since time.Time, dry bool, every time.Duration, stdout *os.File) error {
	if _, err := c.producerRegistry().Get(ctx, name); err != nil && !errors.Is(err, producer.ErrNotFound) {
		return err
	}
	fmt.Fprintf(stdout, "reading every record for those of producer %q received since %s (a full scan)\n", name, since.Format(time.RFC3339))
	ids, err := c.store.ProducerIDs(ctx, name, since, every, func(scanned, matched int64) {
		fmt.Fprintf(stdout, "  %d records read, %d from %s\n", scanned, matched, name)
	})
	if err != nil {
		return err
	}
	if dry {
		fmt.Fprintf(stdout, "dry run: %d records of producer %q received since %s would be deleted\n", len(ids), name, since.Format(time.RFC3339))
		return nil
	}
	n, err := c.store.DeleteProducerRecords(ctx, name, ids)
	if err != nil {
		return fmt.Errorf("purge: %d of %d deleted: %w (run the purge again to finish; then `vacunometro rebuild`)", n, len(ids), err)
	}
	fmt.Fprintf(stdout, "deleted %d records of producer %q; rebuilding the view so the figures match\n", n, name)
	if n == 0 {
		return nil
	}
	return rebuildView(ctx, c, every, stdout, true)
}

// idTokens returns keys, or, when ID_TOKEN_ACCOUNTS names service
// accounts, keys plus their Google-signed ID tokens for ID_TOKEN_AUDIENCE.
func idTokens(ctx context.Context, set Settings, keys *producer.Keys) (ingest.Authenticator, error) {
	if strings.TrimSpace(set.IDTokenAccounts) == "" {
		return keys, nil
	}
	accounts, err := producer.ParseAccounts(set.IDTokenAccounts)
	if err != nil {
		return nil, usageError("%v", err)
	}
	if set.IDTokenAudience == "" {
		return nil, usageError("ID_TOKEN_ACCOUNTS needs ID_TOKEN_AUDIENCE: the ingest's URL, the tokens' audience")
	}
	v, err := idtoken.NewValidator(ctx)
	if err != nil {
		return nil, fmt.Errorf("ID tokens: %w", err)
	}
	return &producer.IDTokens{Keys: keys, Validator: v, Audience: set.IDTokenAudience, Accounts: accounts}, nil
}
