package chaos

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/embedded"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// bin is the vacunometro binary, built once for the package.
var bin string

// loadFor is how long each scenario drives its load: a few seconds by
// default, CHAOS_DURATION (e.g. 60s, `make chaos`) for the long form.
var loadFor = 6 * time.Second

// long reports whether the long form runs (CHAOS_DURATION set).
var long bool

// sharedEmu is the package's own Pub/Sub emulator, started when
// PUBSUB_EMULATOR_HOST is unset (and stopped by TestMain).
var (
	sharedEmuOnce sync.Once
	sharedEmu     *emulator
	sharedEmuErr  error
)

func TestMain(m *testing.M) {
	if d := os.Getenv("CHAOS_DURATION"); d != "" {
		v, err := time.ParseDuration(d)
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "CHAOS_DURATION=%q: want a positive duration such as 60s\n", d)
			os.Exit(2)
		}
		if v > 60*time.Second {
			fmt.Fprintln(os.Stderr, "CHAOS_DURATION is capped at 60s (the machine is shared)")
			v = 60 * time.Second
		}
		loadFor, long = v, true
	}
	dir, err := os.MkdirTemp("", "vacunometro-chaos")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "vacunometro")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/vacunometro")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	if sharedEmu != nil {
		sharedEmu.Stop()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// missing skips the test, or fails it under CI, when a service is missing.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if testenv.Required() {
		t.Fatalf("required service missing: %s", msg)
	}
	t.Skipf("service missing (set CI=1 to fail instead): %s", msg)
}

// randomToken returns a fresh secret for the processes of one test.
func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// proc is a running vacunometro process.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	URL  string // of its HTTP server (the API, or /healthz /readyz /metrics)
	mu   sync.Mutex
	logs bytes.Buffer
	done chan error
}

type procWriter struct{ p *proc }

func (w procWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.logs.Write(b)
}

// baseEnv is the environment without vacunometro's settings.
func baseEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "MONGODB_URI", "MONGODB_DATABASE", "REDIS_URL", "PUBSUB_EMULATOR_HOST", "PUBSUB_PROJECT", "SPLIT",
			"ADMIN_TOKEN", "PORT", "GRPC_SERVER_ADDRESS", "LOG_LEVEL", "LOG_FORMAT", "HOSTNAME":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// startProc runs `vacunometro args...` and waits until GET addr/readyz
// answers 200 (addr is the process's HTTP address).
func startProc(t testing.TB, name string, env []string, addr string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, URL: "http://" + addr, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = procWriter{p}, procWriter{p}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s %v: %v", name, args, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("logs of %s (%v):\n%s", name, args, p.Logs(30000))
		}
	})
	p.waitReady(90 * time.Second)
	return p
}

// Logs returns the last n bytes the process wrote (all with n <= 0).
func (p *proc) Logs(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.logs.String()
	if n > 0 && len(s) > n {
		s = "...\n" + s[len(s)-n:]
	}
	return s
}

func (p *proc) exited() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return true
	default:
		return false
	}
}

func (p *proc) waitReady(timeout time.Duration) {
	p.t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			p.t.Fatalf("%s exited before it was ready:\n%s", p.name, p.Logs(20000))
		}
		resp, err := c.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("%s not ready after %v:\n%s", p.name, timeout, p.Logs(20000))
}

// Kill sends SIGKILL, as a crash would, and waits for the process to end.
func (p *proc) Kill() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(10 * time.Second):
	}
}

// Stop sends SIGTERM and waits for the process to end.
func (p *proc) Stop() error {
	if p.exited() {
		return errors.New("already exited")
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(30 * time.Second):
		p.Kill()
		return errors.New("no exit 30s after SIGTERM")
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	port, err := embedded.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// emulator is a Google Pub/Sub emulator of the test's own: gcloud and its
// java child in a process group of their own (setsid), so that Stop ends both.
type emulator struct {
	Host string // 127.0.0.1:PORT
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// newEmulator starts an emulator on a free port.
func newEmulator(t testing.TB) (*emulator, error) {
	if _, err := exec.LookPath("gcloud"); err != nil {
		return nil, fmt.Errorf("gcloud (the Pub/Sub emulator) is not on PATH")
	}
	port, err := embedded.FreePort()
	if err != nil {
		return nil, err
	}
	e := &emulator{Host: fmt.Sprintf("127.0.0.1:%d", port), log: filepath.Join(os.TempDir(), fmt.Sprintf("vacunometro-chaos-emulator-%d.log", port))}
	return e, e.Start()
}

// Start (re)starts the emulator on its port and waits until it answers.
func (e *emulator) Start() error {
	f, err := os.Create(e.log)
	if err != nil {
		return err
	}
	defer f.Close()
	e.cmd = exec.Command("gcloud", "beta", "emulators", "pubsub", "start", "--host-port="+e.Host, "--project=p")
	e.cmd.Stdout, e.cmd.Stderr = f, f
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := e.cmd.Start(); err != nil {
		return fmt.Errorf("start the Pub/Sub emulator: %w", err)
	}
	e.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(e.cmd, e.done)
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := c.Get("http://" + e.Host + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.Stop()
	b, _ := os.ReadFile(e.log)
	return fmt.Errorf("the Pub/Sub emulator did not answer on %s within 90s:\n%s", e.Host, b)
}

// Stop ends the emulator's process group: SIGTERM, then SIGKILL.
func (e *emulator) Stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	pgid := e.cmd.Process.Pid // setsid: the group id is gcloud's pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
	}
	// java may outlive gcloud: kill whatever is left of the group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	for i := 0; i < 50 && syscall.Kill(-pgid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	e.cmd = nil
}

// pubsubHost returns the Pub/Sub emulator the test uses: PUBSUB_EMULATOR_HOST
// (make test starts one) or the package's own, started once.
func pubsubHost(t testing.TB) string {
	t.Helper()
	if h := os.Getenv("PUBSUB_EMULATOR_HOST"); h != "" {
		return h
	}
	sharedEmuOnce.Do(func() { sharedEmu, sharedEmuErr = newEmulator(t) })
	if sharedEmuErr != nil {
		missing(t, "Pub/Sub emulator: %v", sharedEmuErr)
	}
	return sharedEmu.Host
}

// envDuration reads a duration from the environment, or returns def.
func envDuration(key string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(key)); err == nil && v > 0 {
		return v
	}
	return def
}
