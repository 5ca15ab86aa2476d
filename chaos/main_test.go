package chaos

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

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
	sharedEmu     *testenv.Emulator
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
	code := testenv.RunWithBinary(m, "vacunometro-chaos", &bin)
	if sharedEmu != nil {
		sharedEmu.Stop()
	}
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

// pubsubHost returns the Pub/Sub emulator the test uses: PUBSUB_EMULATOR_HOST
// (make test starts one) or the package's own, started once.
func pubsubHost(t testing.TB) string {
	t.Helper()
	if h := os.Getenv("PUBSUB_EMULATOR_HOST"); h != "" {
		return h
	}
	sharedEmuOnce.Do(func() { sharedEmu, sharedEmuErr = testenv.StartEmulator("vacunometro-chaos") })
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
