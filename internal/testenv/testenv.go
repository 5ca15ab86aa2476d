// Package testenv starts the real services of the integration tests: a
// redis-server of the test's own on a free port, FerretDB (embedded on
// SQLite, or the MongoDB at VAC_TEST_MONGODB_URI; FerretDB on a PostgreSQL
// database of the test's own with StartFerretPG), and the Google Pub/Sub
// emulator at PUBSUB_EMULATOR_HOST. Under CI (or VAC_REQUIRE_SERVICES=1) a
// missing service fails the test instead of skipping it.
package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/embedded"
)

// Required reports whether missing services must fail tests.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("VAC_REQUIRE_SERVICES") != ""
}

// Missing skips the test, or fails it under CI, when a service it needs is
// not there.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("required service missing: %s", msg)
	}
	t.Skipf("service missing (set CI=1 to fail instead): %s", msg)
}

// Logger returns a logger that writes to the test log.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("VAC_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// RedisServer is a redis-server process owned by one test.
type RedisServer struct {
	t       testing.TB
	Port    int
	URL     string
	Dir     string
	persist bool
	cmd     *exec.Cmd
}

// StartRedis starts redis-server on a free port. With persist, it keeps an
// append-only file fsynced on every write (what the redis route needs), so
// that Kill and Start lose nothing acknowledged.
func StartRedis(t testing.TB, persist bool) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		Missing(t, "redis-server is not on PATH (apt-get install redis-server)")
	}
	port, err := embedded.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	r := &RedisServer{t: t, Port: port, URL: fmt.Sprintf("redis://127.0.0.1:%d", port), Dir: t.TempDir(), persist: persist}
	r.Start()
	t.Cleanup(r.stop)
	return r
}

// Start (re)starts the server on its port and directory.
func (r *RedisServer) Start() {
	r.t.Helper()
	args := []string{"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--dir", r.Dir, "--save", "", "--daemonize", "no"}
	if r.persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	cmd := exec.Command("redis-server", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.cmd = cmd
	if err := embedded.WaitRedis(context.Background(), r.URL, 15*time.Second); err != nil {
		r.t.Fatal(err)
	}
}

// Kill ends the server with SIGKILL, as a crash would.
func (r *RedisServer) Kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *RedisServer) stop() { r.Kill() }

// Client returns a client closed at the end of the test.
func (r *RedisServer) Client(t testing.TB) *redis.Client {
	opts, err := redis.ParseURL(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Mongo returns a MongoDB URI and a database name of the test's own:
// VAC_TEST_MONGODB_URI when set (e.g. FerretDB on PostgreSQL), otherwise a
// FerretDB embedded on SQLite in a temporary directory.
func Mongo(t testing.TB) (uri, database string) {
	t.Helper()
	database = "t" + strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.Itoa(int(seq.Add(1)))
	if uri := os.Getenv("VAC_TEST_MONGODB_URI"); uri != "" {
		return uri, database
	}
	f, err := embedded.StartFerretDB(context.Background(), filepath.Join(t.TempDir(), "ferretdb"), "127.0.0.1:0", Logger(t))
	if err != nil {
		t.Fatalf("start FerretDB: %v", err)
	}
	t.Cleanup(f.Stop)
	return f.URI, database
}

var seq atomic.Int64

// PubSub returns the emulator's host:port and a project id of the test's own.
func PubSub(t testing.TB) (host, project string) {
	t.Helper()
	host = os.Getenv("PUBSUB_EMULATOR_HOST")
	if host == "" {
		Missing(t, "PUBSUB_EMULATOR_HOST is not set (make test starts the emulator: gcloud beta emulators pubsub start)")
	}
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 16 {
		name = name[:16]
	}
	return host, fmt.Sprintf("t-%s-%d", strings.Trim(name, "-"), time.Now().UnixNano()%1e9)
}
