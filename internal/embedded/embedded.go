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
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("ferretdb: data dir: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("ferretdb: data dir: %w", err)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
		// FerretDB logs every connection at INFO: keep only its warnings.
		Logger: slog.New(warnOnly{log.With("part", "ferretdb").Handler()}),
	})
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
}

// StartRedis runs redis-server from PATH on a free loopback port with its
// files in dir (AOF with fsync on every write, so the redis route loses
// nothing a 202 acknowledged); without redis-server it starts miniredis,
// which keeps nothing across restarts (the view is then rebuilt from MongoDB).
func StartRedis(ctx context.Context, dir string, log *slog.Logger) (*Redis, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("miniredis: %w", err)
		}
		log.Warn("redis-server not found: using in-process miniredis (nothing in Redis survives a restart)")
		return &Redis{URL: "redis://" + m.Addr(), Kind: "miniredis", mini: m}, nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("redis: data dir: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	abs, _ := filepath.Abs(dir)
	cmd := exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", abs,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
		"--logfile", filepath.Join(abs, "redis.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	r := &Redis{URL: fmt.Sprintf("redis://127.0.0.1:%d", port), Kind: "redis-server", cmd: cmd}
	if err := WaitRedis(ctx, r.URL, 15*time.Second); err != nil {
		r.Stop()
		return nil, err
	}
	return r, nil
}

// Stop ends the server (redis-server flushes its AOF on SIGTERM).
func (r *Redis) Stop() {
	if r.mini != nil {
		r.mini.Close()
		return
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
type warnOnly struct{ slog.Handler }

func (w warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.Handler.Enabled(ctx, l)
}

func (w warnOnly) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn || isWireDump(r.Message) {
		return nil
	}
	return w.Handler.Handle(ctx, r)
}

func (w warnOnly) WithAttrs(attrs []slog.Attr) slog.Handler {
	return warnOnly{w.Handler.WithAttrs(attrs)}
}

func (w warnOnly) WithGroup(name string) slog.Handler {
	return warnOnly{w.Handler.WithGroup(name)}
}

func isWireDump(msg string) bool {
	for _, p := range []string{"Request message", "Response message", "Request header", "Response header"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
