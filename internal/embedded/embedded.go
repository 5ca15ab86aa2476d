//go:build !noembed

// Package embedded provides the real parts in one process, for the
// one-command mode: FerretDB on SQLite as MongoDB, redis-server as a child
// process (or miniredis when redis-server is not installed), and pstest as
// Pub/Sub.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// FerretDB is an in-process MongoDB-compatible server on SQLite.
type FerretDB struct {
	URI    string
	cancel context.CancelFunc
	done   chan struct{}
}

// StartFerretDB serves MongoDB's wire protocol on addr (e.g. 127.0.0.1:0)
// with SQLite files in dir.
func StartFerretDB(ctx context.Context, dir, addr string, log *slog.Logger) (*FerretDB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ferretdb: data dir: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("ferretdb: data dir: %w", err)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	fd, err := runFerretDB(ctx, &ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
		// FerretDB logs every connection at INFO: keep only its warnings.
		Logger: slog.New(warnOnly{Handler: log.With("part", "ferretdb").Handler()}),
	})
	if err != nil {
		return nil, err
	}
	if err := MakePrivate(dir); err != nil {
		log.Warn("ferretdb: make the data directory private", "err", err)
	}
	return fd, nil
}

// StartFerretDBPostgres serves MongoDB's wire protocol on addr with the
// PostgreSQL database at pgURL as FerretDB's backend (tests and the scale
// benchmark; `up` embeds only SQLite). log gets FerretDB's own records, the
// SQL it sends included at debug level.
func StartFerretDBPostgres(ctx context.Context, pgURL, addr string, log *slog.Logger) (*FerretDB, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	return runFerretDB(ctx, &ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: addr},
		Handler:       "postgresql",
		PostgreSQLURL: pgURL,
		Logger:        log.With("part", "ferretdb"),
	})
}

// runFerretDB runs FerretDB with cfg until Stop and waits for its listener.
func runFerretDB(ctx context.Context, cfg *ferretdb.Config) (*FerretDB, error) {
	f, err := ferretdb.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("ferretdb: %w", err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	fd := &FerretDB{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(fd.done)
		f.Run(rctx)
	}()
	// MongoDBURI blocks until the listener is up; call it only after Run started.
	uriCh := make(chan string, 1)
	go func() { uriCh <- f.MongoDBURI() }()
	select {
	case fd.URI = <-uriCh:
	case <-time.After(30 * time.Second):
		cancel()
		return nil, errors.New("ferretdb: did not start listening within 30s")
	}
	return fd, nil
}

// Stop shuts FerretDB down and waits for it.
func (f *FerretDB) Stop() {
	f.cancel()
	<-f.done
}

// Redis is a Redis server for the one-command mode.
type Redis struct {
	URL  string
	Kind string // "redis-server" or "miniredis"
	cmd  *exec.Cmd
	mini *miniredis.Miniredis
	stop context.CancelFunc
	done chan struct{}
	rdb  *redis.Client
	log  *slog.Logger
}

// DefaultCompactEvery is how often the embedded redis-server's append-only
// file is rewritten when it grew: the horizon after which a record handed
// over by the redis route (stored, acknowledged, deleted from the stream)
// is no longer on disk.
const DefaultCompactEvery = time.Minute

// RedisOptions tune StartRedisWith.
type RedisOptions struct {
	CompactEvery time.Duration // default DefaultCompactEvery
}

// StartRedis runs redis-server from PATH on a free loopback port with its
// files in dir (AOF with fsync on every write, so the redis route loses
// nothing a 202 acknowledged); without redis-server it starts miniredis,
// which keeps nothing across restarts (the view is then rebuilt from MongoDB).
//
// What the files hold: the append-only file logs every write, so a stream
// entry (whole records, full names included, in transit on the redis route)
// stays in it after the worker stored, acknowledged and deleted it. The
// server therefore rewrites the file (BGREWRITEAOF) every CompactEvery when
// it grew, and once more on Stop; the rewrite is plain commands
// (aof-use-rdb-preamble no), which hold only live data: entries still
// pending, the view (counts, record ids, masked latest names), the split.
// The directory and files are private to the user (0700/0600).
func StartRedis(ctx context.Context, dir string, log *slog.Logger) (*Redis, error) {
	return StartRedisWith(ctx, dir, log, RedisOptions{})
}

// StartRedisWith is StartRedis with options.
func StartRedisWith(ctx context.Context, dir string, log *slog.Logger, o RedisOptions) (*Redis, error) {
	if o.CompactEvery <= 0 {
		o.CompactEvery = DefaultCompactEvery
	}
	path, err := exec.LookPath("redis-server")
	if err != nil {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("miniredis: %w", err)
		}
		log.Warn("redis-server not found: using in-process miniredis (nothing in Redis survives a restart)")
		return &Redis{URL: "redis://" + m.Addr(), Kind: "miniredis", mini: m}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("redis: data dir: %w", err)
	}
	if err := MakePrivate(dir); err != nil {
		return nil, fmt.Errorf("redis: data dir: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	abs, _ := filepath.Abs(dir)
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", abs,
		"--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", "no", "--save", "", "--daemonize", "no",
		"--logfile", filepath.Join(abs, "redis.log")}
	cmd := exec.Command(path, args...)
	if sh, err := exec.LookPath("sh"); err == nil {
		// The server's files private to the user (0600, 0700), without
		// changing this process's umask: a shell sets it, then becomes the
		// server.
		cmd = exec.Command(sh, append([]string{"-c", `umask 077 && exec "$0" "$@"`, path}, args...)...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	r := &Redis{URL: fmt.Sprintf("redis://127.0.0.1:%d", port), Kind: "redis-server", cmd: cmd, log: log}
	if err := WaitRedis(ctx, r.URL, 15*time.Second); err != nil {
		r.Stop()
		return nil, err
	}
	r.rdb = redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stop, r.done = cancel, make(chan struct{})
	go r.compactLoop(cctx, o.CompactEvery)
	return r, nil
}

func (r *Redis) compactLoop(ctx context.Context, every time.Duration) {
	defer close(r.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := r.Compact(ctx, false); err != nil && ctx.Err() == nil {
				r.log.Warn("redis: rewrite the append-only file", "err", err)
			}
		}
	}
}

// Compact rewrites the append-only file if it grew since the last rewrite
// (or a rewrite runs already), and with wait, waits until the rewrite is
// done. It reports whether it started one.
func (r *Redis) Compact(ctx context.Context, wait bool) (bool, error) {
	if r.rdb == nil {
		return false, nil
	}
	info, err := persistenceInfo(ctx, r.rdb)
	if err != nil {
		return false, err
	}
	started := false
	if info["aof_rewrite_in_progress"] != "1" && info["aof_rewrite_scheduled"] != "1" {
		cur, _ := strconv.ParseInt(info["aof_current_size"], 10, 64)
		base, _ := strconv.ParseInt(info["aof_base_size"], 10, 64)
		if cur <= base {
			return false, nil
		}
		if err := r.rdb.BgRewriteAOF(ctx).Err(); err != nil {
			return false, fmt.Errorf("bgrewriteaof: %w", err)
		}
		started = true
	}
	for wait {
		info, err := persistenceInfo(ctx, r.rdb)
		if err != nil {
			return started, err
		}
		if info["aof_rewrite_in_progress"] != "1" && info["aof_rewrite_scheduled"] != "1" {
			if info["aof_last_bgrewrite_status"] != "ok" {
				return started, fmt.Errorf("bgrewriteaof: status %s", info["aof_last_bgrewrite_status"])
			}
			return started, nil
		}
		select {
		case <-ctx.Done():
			return started, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return started, nil
}

func persistenceInfo(ctx context.Context, rdb *redis.Client) (map[string]string, error) {
	s, err := rdb.Info(ctx, "persistence").Result()
	if err != nil {
		return nil, fmt.Errorf("info persistence: %w", err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			m[k] = v
		}
	}
	return m, nil
}

// Stop rewrites the append-only file a last time (so that what was handed
// over is not left on disk), then ends the server (redis-server flushes its
// AOF on SIGTERM).
func (r *Redis) Stop() {
	if r.mini != nil {
		r.mini.Close()
		return
	}
	if r.stop != nil {
		r.stop()
		<-r.done
	}
	if r.rdb != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := r.Compact(ctx, true); err != nil {
			r.log.Warn("redis: last rewrite of the append-only file", "err", err)
		}
		cancel()
		_ = r.rdb.Close()
	}
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = r.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = r.cmd.Process.Kill()
			<-done
		}
	}
}

// warnOnly passes on FerretDB's warnings and errors only, and never its
// wire dumps ("Request message: {...}"), which hold whole documents (full
// names) and would put personal data in the logs.
type warnOnly struct {
	slog.Handler
	// with holds the WithAttrs and WithGroup calls, applied only when a
	// record is handled: FerretDB's SQLite layer makes a logger With each
	// statement's query and arguments (whole documents), and a text
	// handler formats attributes as soon as it is given them. Applied
	// eagerly, that cost a fifth of FerretDB's CPU under InsertMany, for
	// records that are never written.
	with []func(slog.Handler) slog.Handler
}

func (w warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.Handler.Enabled(ctx, l)
}

func (w warnOnly) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn || isWireDump(r.Message) {
		return nil
	}
	h := w.Handler
	for _, f := range w.with {
		h = f(h)
	}
	return h.Handle(ctx, r)
}

func (w warnOnly) add(f func(slog.Handler) slog.Handler) warnOnly {
	return warnOnly{Handler: w.Handler, with: append(w.with[:len(w.with):len(w.with)], f)}
}

func (w warnOnly) WithAttrs(attrs []slog.Attr) slog.Handler {
	return w.add(func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })
}

func (w warnOnly) WithGroup(name string) slog.Handler {
	return w.add(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

func isWireDump(msg string) bool {
	for _, p := range []string{"Request message", "Response message", "Request header", "Response header"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
