package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/schema"
)

// Source returns the current snapshot.
type Source func(ctx context.Context) (Snapshot, error)

// Snapshot is what a Source returns: the frame pushed to the clients, and
// what tells whether the data changed since the last one.
type Snapshot struct {
	// Data is the frame's payload (the JSON text the dashboard parses).
	Data []byte
	// Key is compared with the previous snapshot's Key: equal keys mean the
	// same data, and no frame is pushed. It leaves out what changes on every
	// read (a generation time). Nil: Data itself is compared.
	Key []byte
}

// key is what fetch compares.
func (s Snapshot) key() []byte {
	if s.Key == nil {
		return s.Data
	}
	return s.Key
}

// Defaults applied by New to zero Config fields.
const (
	DefaultChannel         = schema.ChangedChannel
	DefaultMaxConns        = 10000
	DefaultMaxPerSecond    = 10
	DefaultSendQueue       = 2
	DefaultWriteTimeout    = 10 * time.Second
	DefaultPongWait        = 60 * time.Second
	DefaultPingInterval    = 25 * time.Second
	DefaultMaxMessageSize  = 512
	DefaultRefreshInterval = 5 * time.Second
	DefaultFetchTimeout    = 5 * time.Second
	DefaultSendBuffer      = 64 << 10
)

// Config configures a Hub. Only Source is required.
type Config struct {
	// Source returns the current snapshot. It is read after change
	// notices (rate-limited with the pushes, see MaxPerSecond), once per
	// RefreshInterval, after each Redis re-subscription, and when a client
	// connects before any snapshot is cached; never once per client.
	Source Source
	// Redis, if set, is subscribed to Channel for change notices. Without it
	// the Hub learns of changes only from Notify and the periodic refresh.
	Redis redis.UniversalClient
	// Channel is the Redis pub/sub channel of change notices.
	Channel string
	// AllowedOrigins lists exact origins ("https://x.example"). Empty means
	// same host only (the Origin's host equals the request's Host); "*" allows
	// any. A request without an Origin header (not a browser) is allowed.
	AllowedOrigins []string
	// MaxConns caps concurrent connections; over it the upgrade is answered
	// with HTTP 503 and a JSON error.
	MaxConns int
	// MaxPerSecond caps snapshots pushed per second (coalescing, trailing
	// edge: the last change is always delivered). It is enforced as a token
	// bucket of 1.25 pushes, so notices arriving at exactly this rate with a
	// little jitter are neither delayed nor merged; a read that finds the
	// snapshot unchanged gives its token back.
	MaxPerSecond float64
	// SendQueue bounds each client's queue of frames not yet written; when it
	// is full the oldest queued frame is skipped (latest wins).
	SendQueue int
	// WriteTimeout bounds one frame write: a client whose socket stays full
	// for that long is dropped. (A client that reads nothing at all is
	// usually dropped first by PongWait, since it answers no ping.)
	WriteTimeout time.Duration
	// PingInterval is how often a ping is sent; PongWait is how long the
	// client may stay silent (no pong, no frame) before it is dropped. It must
	// exceed PingInterval.
	PingInterval time.Duration
	PongWait     time.Duration
	// SendBuffer is each connection's kernel send buffer in bytes (SO_SNDBUF;
	// default 64 KiB, negative = leave the OS's autotuning). It bounds how many
	// frames pile up unseen in the kernel for a slow client before its
	// latest-only queue starts skipping frames (and the server memory).
	SendBuffer int
	// MaxMessageSize is the read limit for client frames.
	MaxMessageSize int64
	// RefreshInterval re-reads the Source periodically so that a missed notice
	// heals (the push is skipped when the snapshot did not change).
	RefreshInterval time.Duration
	// FetchTimeout bounds one Source call.
	FetchTimeout time.Duration
	Logger       *slog.Logger
	// Registerer, if set, receives the Hub's Prometheus metrics.
	Registerer prometheus.Registerer
}

// withDefaults validates cfg and fills its zero fields.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Source == nil {
		return cfg, errors.New("realtime: Config.Source is required")
	}
	if cfg.Channel == "" {
		cfg.Channel = DefaultChannel
	}
	orDefault(&cfg.MaxConns, DefaultMaxConns)
	orDefault(&cfg.MaxPerSecond, DefaultMaxPerSecond)
	orDefault(&cfg.SendQueue, DefaultSendQueue)
	orDefault(&cfg.WriteTimeout, DefaultWriteTimeout)
	orDefault(&cfg.PongWait, DefaultPongWait)
	orDefault(&cfg.PingInterval, min(DefaultPingInterval, cfg.PongWait*9/10))
	if cfg.PingInterval >= cfg.PongWait {
		return cfg, fmt.Errorf("realtime: PingInterval %v must be shorter than PongWait %v", cfg.PingInterval, cfg.PongWait)
	}
	if cfg.SendBuffer == 0 {
		cfg.SendBuffer = DefaultSendBuffer
	}
	orDefault(&cfg.MaxMessageSize, DefaultMaxMessageSize)
	orDefault(&cfg.RefreshInterval, DefaultRefreshInterval)
	orDefault(&cfg.FetchTimeout, DefaultFetchTimeout)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// orDefault sets *v to def when it is zero or negative (unset).
func orDefault[T int | int64 | float64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
