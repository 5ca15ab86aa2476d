package e2e

// The rollout end to end: the real binary, `vacunometro up` (embedded
// FerretDB and Pub/Sub, a redis-server of the test's own) with FAULTS on one
// route, a steady background load of single-record POSTs, and `vacunometro
// rollout` run as a person runs it.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/embedded"
	"github.com/vacunometro/vacunometro/internal/rollout"
	"github.com/vacunometro/vacunometro/internal/schema"
	"github.com/vacunometro/vacunometro/internal/split"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

func getSplit(t *testing.T, base string) split.Weights {
	t.Helper()
	resp, err := http.Get(base + "/api/split")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Weights split.Weights `json:"weights"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Weights
}

func TestRolloutEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	rs := testenv.StartRedis(t, false)
	rdb := rs.Client(t)
	port, err := embedded.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	token := "rollout-e2e-admin-token-0123456789"
	// pubsub fails 30% of its deliveries on purpose; the ingest fails them over.
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	up := start(t, testenv.CleanEnv("REDIS_URL="+rs.URL, "ADMIN_TOKEN="+token, "FAULTS=pubsub:error=0.3", "LOG_LEVEL=warn"),
		addr, "up", "--addr", addr, "--data", t.TempDir(), "--split", "grpc=100,redis=0,pubsub=0", "--web", t.TempDir())
	if !strings.Contains(up.Logs(0), "FAULT INJECTION") {
		t.Fatalf("up does not say it injects faults (is FAULTS wired into up?):\n%s", up.Logs(20000))
	}

	// Changes announced for the dashboard.
	sub := rdb.Subscribe(t.Context(), schema.ChangedChannel)
	defer sub.Close()
	if _, err := sub.Receive(t.Context()); err != nil {
		t.Fatal(err)
	}
	var notices atomic.Int64
	go func() {
		for m := range sub.Channel() {
			if m.Payload == schema.RolloutNotice {
				notices.Add(1)
			}
		}
	}()

	// About 100 single records a second for the whole test.
	stopLoad := testenv.Load(t, base, 10*time.Millisecond)

	rolloutEnv := testenv.CleanEnv("REDIS_URL="+rs.URL, "ADMIN_TOKEN="+token)
	runRollout := func(args ...string) *testenv.Proc {
		// --max-inconclusive 10: a busy machine may send too little in an
		// interval; the rollout then waits instead of deciding.
		return start(t, rolloutEnv, "", append([]string{"rollout", "--target", base, "--interval", "1s", "--min-records", "10", "--max-inconclusive", "10"}, args...)...)
	}
	state := func() rollout.State {
		raw, err := rdb.Get(context.Background(), schema.RolloutKey).Bytes()
		if err != nil {
			t.Fatalf("GET %s: %v", schema.RolloutKey, err)
		}
		var s rollout.State
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("a healthy route is promoted", func(t *testing.T) {
		p := runRollout("--to", "redis", "--steps", "25,50,100", "--max-lag", "5s")
		code := p.Wait(60 * time.Second)
		t.Logf("rollout output:\n%s", p.Logs(20000))
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		out := p.Logs(0)
		for _, want := range []string{"step 1/3 (redis 25%): split set to grpc=75,redis=25,pubsub=0", "(redis 25%) check", "PASS", "store lag p99", "PROMOTED", "summary: redis promoted"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if got, want := getSplit(t, base), (split.Weights{"grpc": 0, "redis": 100, "pubsub": 0}); !reflect.DeepEqual(got, want) {
			t.Errorf("GET /api/split = %v, want %v", got, want)
		}
		s := state()
		if s.Verdict != rollout.Promoted || s.Route != "redis" || s.Step != 100 || countChecks(s.Checks, rollout.Pass) != 3 || countChecks(s.Checks, rollout.Fail) != 0 || s.Checks[len(s.Checks)-1].LagP99Ms == nil {
			t.Errorf("dashboard state %+v", s)
		}
	})

	t.Run("a route with injected errors is rolled back within the failure budget", func(t *testing.T) {
		before := getSplit(t, base)
		p := runRollout("--to", "pubsub", "--steps", "25,50,100", "--max-failures", "2")
		code := p.Wait(60 * time.Second)
		t.Logf("rollout output:\n%s", p.Logs(20000))
		if code != 1 {
			t.Fatalf("exit %d, want 1 (rolled back)", code)
		}
		out := p.Logs(0)
		for _, want := range []string{"step 1/3 (pubsub 25%)", "FAIL: success", "[failed checks 2/2]", "ROLLED BACK", "2 failed checks"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "step 2/3") {
			t.Errorf("went on to step 2 with a failing route:\n%s", out)
		}
		if got := getSplit(t, base); !reflect.DeepEqual(got, before) {
			t.Errorf("GET /api/split = %v, want the split before the rollout, %v", got, before)
		}
		s := state()
		if s.Verdict != rollout.RolledBack || s.FailedChecks != 2 || !reflect.DeepEqual(s.Weights, before) || !strings.Contains(s.Reason, "success") {
			t.Errorf("dashboard state %+v", s)
		}
		for _, c := range s.Checks {
			if c.Verdict == rollout.Fail && (c.SuccessPct == nil || *c.SuccessPct > 80) {
				t.Errorf("failed check %+v: want a success rate near 70%%", c)
			}
		}
	})

	t.Run("an interrupted rollout leaves the split where a person can see it", func(t *testing.T) {
		p := runRollout("--to", "grpc", "--steps", "50,100", "--interval", "1m")
		for !strings.Contains(p.Logs(0), "split set to") {
			if p.Exited() {
				t.Fatalf("rollout ended early:\n%s", p.Logs(20000))
			}
			time.Sleep(20 * time.Millisecond)
		}
		p.Signal(syscall.SIGINT)
		code := p.Wait(30 * time.Second)
		t.Logf("rollout output:\n%s", p.Logs(20000))
		if code != 1 {
			t.Fatalf("exit %d, want 1 (interrupted)", code)
		}
		want := split.Weights{"grpc": 50, "redis": 50, "pubsub": 0}
		if got := getSplit(t, base); !reflect.DeepEqual(got, want) {
			t.Errorf("GET /api/split = %v, want the step it was at, %v", got, want)
		}
		out := p.Logs(0)
		for _, w := range []string{"INTERRUPTED", "the split is now grpc=50,redis=50,pubsub=0", "to finish (grpc at 100%): curl", "to undo (the split before the rollout, grpc=0,redis=100,pubsub=0): curl"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
		if s := state(); s.Verdict != rollout.Interrupted || !reflect.DeepEqual(s.Weights, want) {
			t.Errorf("dashboard state %+v", s)
		}
	})

	ok, refused := stopLoad()
	if ok == 0 || refused != 0 {
		t.Errorf("load: %d accepted, %d refused; want none refused (failover covers the faulty route)", ok, refused)
	}
	if n := notices.Load(); n < 6 {
		t.Errorf("%d rollout notices on %s, want one per state written", n, schema.ChangedChannel)
	}
}

func countChecks(cs []rollout.Check, v string) int {
	n := 0
	for _, c := range cs {
		if c.Verdict == v {
			n++
		}
	}
	return n
}
