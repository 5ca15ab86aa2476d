package chaos

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	// Every POST of this package's clients carries the key of the producer
	// "local" (the children get it as LOCAL_PRODUCER_KEY).
	http.DefaultTransport = testenv.AuthTransport(http.DefaultTransport)
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
	bin, err = testenv.BuildBinary(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if sharedEmu != nil {
		sharedEmu.Stop()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// randomToken returns a fresh secret for the processes of one test.
func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// proc is a running vacunometro process (internal/testenv).
type proc = testenv.Proc

// startProc runs `vacunometro args...` and waits until GET addr/readyz
// answers 200 (addr is the process's HTTP address).
func startProc(t testing.TB, name string, env []string, addr string, args ...string) *proc {
	t.Helper()
	return testenv.StartProc(t, bin, name, env, addr, args...)
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
		testenv.Missing(t, "Pub/Sub emulator: %v", sharedEmuErr)
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
