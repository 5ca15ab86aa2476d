// Package app provides vacunometro's commands: the wiring of the parts into
// processes (`up` runs them all in one), configured by flags and the
// environment. cmd/vacunometro is a thin entry point over it.
package app

import (
	"cmp"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vacunometro/vacunometro/internal/logging"
	"github.com/vacunometro/vacunometro/internal/producer"
	"github.com/vacunometro/vacunometro/internal/sink"
)

// Env is the process environment, injectable for tests.
type Env = func(string) string

// Settings common to the commands, from the environment (README, "Configuration").
type Settings struct {
	MongoURI       string // MONGODB_URI; empty: embedded FerretDB (up only)
	MongoDatabase  string // MONGODB_DATABASE
	RedisURL       string // REDIS_URL; empty: embedded (up only)
	PubSubProject  string // PUBSUB_PROJECT
	PubSubEmulator string // PUBSUB_EMULATOR_HOST
	PubSubTopic    string // PUBSUB_TOPIC
	PubSubSub      string // PUBSUB_SUBSCRIPTION
	GRPCAddress    string // GRPC_SERVER_ADDRESS: where the ingest finds the gRPC server
	Split          string // SPLIT
	AdminToken     string // ADMIN_TOKEN
	Port           string // PORT (Cloud Run)
	LogLevel       string // LOG_LEVEL: debug, info, warn, error
	LogFormat      string // LOG_FORMAT: text or json
	AllowedOrigins string // ALLOWED_ORIGINS: comma-separated WebSocket origins
	WebDir         string // WEB_DIR: the built dashboard
	Faults         string // FAULTS: fault injection for demos and tests, e.g. "pubsub:error=0.3,latency=200ms"
	GRPCListen     string // GRPC_ADDR: where grpc-server listens
	HealthAddr     string // HEALTH_ADDR: /healthz, /readyz, /metrics of grpc-server and the workers
	Hostname       string // HOSTNAME: the Redis worker's consumer name (a pod's name on GKE)
	// LocalProducerKey (LOCAL_PRODUCER_KEY): the key of the producer
	// "local", made or updated by the processes that hold MongoDB and
	// Redis (up, grpc-server, the workers); for scripts and tests.
	LocalProducerKey string
	QuotaRate        float64 // QUOTA_RATE: default records/s per producer (0: unlimited)
	QuotaBurst       int     // QUOTA_BURST: default burst per producer
	QuotaErr         error   // a malformed QUOTA_RATE or QUOTA_BURST
	// SinkInterval (SINK_INTERVAL): the sink's spacing of InsertMany
	// calls under load (sink.Options.Interval; 0: none). SinkErr is a
	// malformed value.
	SinkInterval time.Duration
	SinkErr      error
	// RouteInFlight (ROUTE_IN_FLIGHT): writes each route's producer keeps
	// in flight (0: the route's default); fewer make fuller writes, at
	// some latency. RouteInFlightErr is a malformed value.
	RouteInFlight    int
	RouteInFlightErr error
	// IDTokenAudience (ID_TOKEN_AUDIENCE) and IDTokenAccounts
	// (ID_TOKEN_ACCOUNTS, "email=producer,..."): the ingest also accepts
	// Google-signed ID tokens of these service accounts, for that audience.
	IDTokenAudience string
	IDTokenAccounts string
	env             Env // the environment itself, for libraries that read their own variables
}

// DefaultSplit spreads records evenly over the three routes.
const DefaultSplit = "grpc=34,redis=33,pubsub=33"

func loadSettings(env Env) Settings {
	set := Settings{
		MongoURI:       env("MONGODB_URI"),
		MongoDatabase:  cmp.Or(env("MONGODB_DATABASE"), "vacunometro"),
		RedisURL:       env("REDIS_URL"),
		PubSubProject:  env("PUBSUB_PROJECT"),
		PubSubEmulator: env("PUBSUB_EMULATOR_HOST"),
		PubSubTopic:    cmp.Or(env("PUBSUB_TOPIC"), "vacunometro-records"),
		PubSubSub:      cmp.Or(env("PUBSUB_SUBSCRIPTION"), "vacunometro-records-sink"),
		GRPCAddress:    cmp.Or(env("GRPC_SERVER_ADDRESS"), "127.0.0.1:50051"),
		Split:          cmp.Or(env("SPLIT"), DefaultSplit),
		AdminToken:     env("ADMIN_TOKEN"),
		Port:           env("PORT"),
		LogLevel:       cmp.Or(env("LOG_LEVEL"), "info"),
		LogFormat:      cmp.Or(env("LOG_FORMAT"), "text"),
		AllowedOrigins: env("ALLOWED_ORIGINS"),
		WebDir:         cmp.Or(env("WEB_DIR"), "webapp/dist"),
		Faults:         env("FAULTS"),
		GRPCListen:     cmp.Or(env("GRPC_ADDR"), "127.0.0.1:50051"),
		HealthAddr:     cmp.Or(env("HEALTH_ADDR"), "127.0.0.1:8081"),
		Hostname:       env("HOSTNAME"),
		env:            env,

		LocalProducerKey: env("LOCAL_PRODUCER_KEY"),
		IDTokenAudience:  env("ID_TOKEN_AUDIENCE"),
		IDTokenAccounts:  env("ID_TOKEN_ACCOUNTS"),
		QuotaRate:        producer.DefaultRate,
		QuotaBurst:       producer.DefaultBurst,
		SinkInterval:     sink.DefaultInterval,
	}
	if v := env("SINK_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Second {
			set.SinkErr = fmt.Errorf("SINK_INTERVAL=%q: want a duration from 0 (none) to 1s, such as 25ms", v)
		}
		set.SinkInterval = d
	}
	if v := env("ROUTE_IN_FLIGHT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			set.RouteInFlightErr = fmt.Errorf("ROUTE_IN_FLIGHT=%q: want a number of writes from 1 to 64", v)
		}
		set.RouteInFlight = n
	}
	if v := env("QUOTA_RATE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			set.QuotaErr = fmt.Errorf("QUOTA_RATE=%q: want records per second, 0 for unlimited", v)
		}
		set.QuotaRate = f
	}
	if v := env("QUOTA_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			set.QuotaErr = fmt.Errorf("QUOTA_BURST=%q: want a number of records, at least 1", v)
		}
		set.QuotaBurst = n
	}
	return set
}

// defaultAddr is where an HTTP command listens: on Cloud Run (PORT set) all
// interfaces, as its contract requires; otherwise loopback only.
func (s Settings) defaultAddr(localPort string) string {
	if s.Port != "" {
		return ":" + s.Port
	}
	return "127.0.0.1:" + localPort
}

func (s Settings) origins() []string {
	var out []string
	for _, o := range strings.Split(s.AllowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

func newLogger(s Settings, w *os.File) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if s.LogFormat == "json" {
		// severity/message and the request's trace, as Cloud Logging reads them.
		return slog.New(logging.NewJSONHandler(w, opts, s.PubSubProject))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// common flags every server command shares.
type serverFlags struct {
	addr  string
	grace time.Duration
}

// quotaFlags adds the default quota's flags to fs.
func (s *Settings) quotaFlags(fs *flag.FlagSet) {
	fs.Float64Var(&s.QuotaRate, "quota-rate", s.QuotaRate, "default records per second of a producer without its own quota; 0: unlimited (QUOTA_RATE)")
	fs.IntVar(&s.QuotaBurst, "quota-burst", s.QuotaBurst, "default burst (records) of a producer without its own quota; at least the largest request (QUOTA_BURST)")
}

func (f *serverFlags) register(fs *flag.FlagSet, defaultAddr string) {
	fs.StringVar(&f.addr, "addr", defaultAddr, "HTTP listen address (PORT sets it to :PORT)")
	fs.DurationVar(&f.grace, "grace", 15*time.Second, "time to finish in-flight work on SIGTERM")
}

func usageError(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// UsageError is a bad command line.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }
