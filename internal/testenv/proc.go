package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/embedded"
	"github.com/vacunometro/vacunometro/internal/envvars"
)

// BuildBinary builds cmd/vacunometro into dir and returns its path. Test
// packages that run the real binary call it once, from TestMain.
func BuildBinary(dir string) (string, error) {
	bin := filepath.Join(dir, "vacunometro")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/vacunometro/vacunometro/cmd/vacunometro")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build cmd/vacunometro: %w\n%s", err, out.String())
	}
	return bin, nil
}

// RunWithBinary is the TestMain of a package that runs the real binary: it
// builds cmd/vacunometro once into a temporary directory named after
// prefix, sets *bin to its path, runs the tests and removes the directory.
// It returns the tests' exit code (or 1 when the build failed).
func RunWithBinary(m *testing.M, prefix string, bin *string) int {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = BuildBinary(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// SyncBuffer is an output a process or handler writes while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// CleanEnv is this process's environment without any of vacunometro's
// settings (envvars), plus LOCAL_PRODUCER_KEY (ProducerKey: the producer
// "local" the test's clients post as) and extra (KEY=value): a child
// started with it uses its defaults unless the test says otherwise.
func CleanEnv(extra ...string) []string {
	env := []string{"LOCAL_PRODUCER_KEY=" + ProducerKey()}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !isSetting(k) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func isSetting(k string) bool {
	if slices.Contains(envvars.Settings, k) {
		return true
	}
	for _, p := range envvars.LibraryPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// FreeAddr returns a free loopback host:port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := embedded.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// Proc is a running vacunometro process owned by a test: killed at the end
// of the test, its output logged when the test failed.
type Proc struct {
	Name string
	URL  string // http://addr: the API, or /healthz /readyz /metrics
	t    testing.TB
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan error
}

type procWriter struct{ p *Proc }

func (w procWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.logs.Write(b)
}

// StartProc runs `bin args...` with env and, when addr is not empty, waits
// until GET addr/readyz answers 200.
func StartProc(t testing.TB, bin, name string, env []string, addr string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, URL: "http://" + addr, t: t, done: make(chan error, 1)}
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
	if addr != "" {
		p.waitReady(90 * time.Second)
	}
	return p
}

// Logs returns the last n bytes the process wrote (all with n <= 0).
func (p *Proc) Logs(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.logs.String()
	if n > 0 && len(s) > n {
		s = "...\n" + s[len(s)-n:]
	}
	return s
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return true
	default:
		return false
	}
}

func (p *Proc) waitReady(timeout time.Duration) {
	p.t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.Exited() {
			p.t.Fatalf("%s exited before it was ready:\n%s", p.Name, p.Logs(20000))
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
	p.t.Fatalf("%s not ready after %v:\n%s", p.Name, timeout, p.Logs(20000))
}

// Kill sends SIGKILL, as a crash would, and waits for the process to end.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(10 * time.Second):
	}
}

// Stop sends SIGTERM and waits (30 s at most) for the process to end; it
// returns the process's exit error.
func (p *Proc) Stop() error {
	if p.Exited() {
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

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// Wait waits at most timeout for the process to end on its own and returns
// its exit code; past timeout it kills the process and fails the test.
func (p *Proc) Wait(timeout time.Duration) int {
	p.t.Helper()
	var err error
	select {
	case err = <-p.done:
		p.done <- err
	case <-time.After(timeout):
		p.Kill()
		p.t.Fatalf("%s still running after %v:\n%s", p.Name, timeout, p.Logs(20000))
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		p.t.Fatalf("%s: %v", p.Name, err)
	}
	return 0
}

// WriteFiles writes files (path relative to dir, slash-separated -> body)
// into dir, making the directories they need.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
