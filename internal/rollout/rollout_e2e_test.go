package rollout

// The integration test: the real binary, `vacunometro up` (embedded FerretDB
// and Pub/Sub, a redis-server of the test's own) with FAULTS on one route,
// a steady background load of single-record POSTs, and `vacunometro
// rollout` run as a person runs it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/embedded"
	"github.com/vacunometro/vacunometro/internal/schema"
	"github.com/vacunometro/vacunometro/internal/split"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// binary builds cmd/vacunometro once for the package.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "vacunometro-rollout")
		if buildErr != nil {
			return
		}
		binPath, buildErr = testenv.BuildBinary(binDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// requireRolloutCommand fails the test, saying what is missing, when the
// binary does not dispatch `rollout` (internal/app/app.go).
func requireRolloutCommand(t *testing.T) {
	t.Helper()
	out, _ := exec.Command(binary(t), "rollout", "--help").CombinedOutput()
	if strings.Contains(string(out), `unknown command "rollout"`) {
		t.Fatalf("the binary has no rollout command: internal/app/app.go needs `case \"rollout\": return runRollout(ctx, set, rest, stdout, stderr)`")
	}
}

func cleanupBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// proc is a running command with its combined output.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary(t), args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(20 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
	})
	return p
}

// wait returns the exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%v still running after %v:\n%s", p.cmd.Args, timeout, p.out)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

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
	requireRolloutCommand(t)
	rs := testenv.StartRedis(t, false)
	rdb := rs.Client(t)
	port, err := embedded.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	token := "rollout-e2e-admin-token-0123456789"
	// pubsub fails 30% of its deliveries on purpose; the ingest fails them over.
	up := startProc(t, testenv.CleanEnv("REDIS_URL="+rs.URL, "ADMIN_TOKEN="+token, "FAULTS=pubsub:error=0.3", "LOG_LEVEL=warn"),
		"up", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--data", t.TempDir(), "--split", "grpc=100,redis=0,pubsub=0", "--web", t.TempDir())
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-up.done:
			t.Fatalf("up exited: %v\n%s", up.err, up.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("up not ready:\n%s", up.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(up.out.String(), "FAULT INJECTION") {
		t.Fatalf("up does not say it injects faults (is FAULTS wired into up?):\n%s", up.out)
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
	stop := load(t, base, 10*time.Millisecond)

	rolloutEnv := testenv.CleanEnv("REDIS_URL="+rs.URL, "ADMIN_TOKEN="+token)
	rollout := func(args ...string) *proc {
		// --max-inconclusive 10: a busy machine may send too little in an
		// interval; the rollout then waits instead of deciding.
		return startProc(t, rolloutEnv, append([]string{"rollout", "--target", base, "--interval", "1s", "--min-records", "10", "--max-inconclusive", "10"}, args...)...)
	}
	state := func() State {
		raw, err := rdb.Get(context.Background(), schema.RolloutKey).Bytes()
		if err != nil {
			t.Fatalf("GET %s: %v", schema.RolloutKey, err)
		}
		var s State
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("a healthy route is promoted", func(t *testing.T) {
		p := rollout("--to", "redis", "--steps", "25,50,100", "--max-lag", "5s")
		code := p.wait(t, 60*time.Second)
		t.Logf("rollout output:\n%s", p.out)
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		out := p.out.String()
		for _, want := range []string{"step 1/3 (redis 25%): split set to grpc=75,redis=25,pubsub=0", "(redis 25%) check", "PASS", "store lag p99", "PROMOTED", "summary: redis promoted"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if got, want := getSplit(t, base), (split.Weights{"grpc": 0, "redis": 100, "pubsub": 0}); !reflect.DeepEqual(got, want) {
			t.Errorf("GET /api/split = %v, want %v", got, want)
		}
		s := state()
		if s.Verdict != Promoted || s.Route != "redis" || s.Step != 100 || count(s.Checks, Pass, 0) != 3 || count(s.Checks, Fail, 0) != 0 || s.Checks[len(s.Checks)-1].LagP99Ms == nil {
			t.Errorf("dashboard state %+v", s)
		}
	})

	t.Run("a route with injected errors is rolled back within the failure budget", func(t *testing.T) {
		before := getSplit(t, base)
		p := rollout("--to", "pubsub", "--steps", "25,50,100", "--max-failures", "2")
		code := p.wait(t, 60*time.Second)
		t.Logf("rollout output:\n%s", p.out)
		if code != 1 {
			t.Fatalf("exit %d, want 1 (rolled back)", code)
		}
		out := p.out.String()
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
		if s.Verdict != RolledBack || s.FailedChecks != 2 || !reflect.DeepEqual(s.Weights, before) || !strings.Contains(s.Reason, "success") {
			t.Errorf("dashboard state %+v", s)
		}
		for _, c := range s.Checks {
			if c.Verdict == Fail && (c.SuccessPct == nil || *c.SuccessPct > 80) {
				t.Errorf("failed check %+v: want a success rate near 70%%", c)
			}
		}
	})

	t.Run("an interrupted rollout leaves the split where a person can see it", func(t *testing.T) {
		p := rollout("--to", "grpc", "--steps", "50,100", "--interval", "1m")
		for !strings.Contains(p.out.String(), "split set to") {
			select {
			case <-p.done:
				t.Fatalf("rollout ended early:\n%s", p.out)
			case <-time.After(20 * time.Millisecond):
			}
		}
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		code := p.wait(t, 30*time.Second)
		t.Logf("rollout output:\n%s", p.out)
		if code != 1 {
			t.Fatalf("exit %d, want 1 (interrupted)", code)
		}
		want := split.Weights{"grpc": 50, "redis": 50, "pubsub": 0}
		if got := getSplit(t, base); !reflect.DeepEqual(got, want) {
			t.Errorf("GET /api/split = %v, want the step it was at, %v", got, want)
		}
		out := p.out.String()
		for _, w := range []string{"INTERRUPTED", "the split is now grpc=50,redis=50,pubsub=0", "to finish (grpc at 100%): curl", "to undo (the split before the rollout, grpc=0,redis=100,pubsub=0): curl"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
		if s := state(); s.Verdict != Interrupted || !reflect.DeepEqual(s.Weights, want) {
			t.Errorf("dashboard state %+v", s)
		}
	})

	ok, refused := stop()
	if ok == 0 || refused != 0 {
		t.Errorf("load: %d accepted, %d refused; want none refused (failover covers the faulty route)", ok, refused)
	}
	if n := notices.Load(); n < 6 {
		t.Errorf("%d rollout notices on %s, want one per state written", n, schema.ChangedChannel)
	}
}

// TestRolloutCommandCloudBackends runs the command against fake gcloud and
// kubectl: without --apply it only prints; with it, it changes the
// HTTPRoute step by step, judged by a metrics endpoint.
func TestRolloutCommandCloudBackends(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	requireRolloutCommand(t)
	logPath, _ := fakeTools(t, runState, 0)
	p := startProc(t, testenv.CleanEnv(), "rollout", "--backend", "cloudrun", "--region", "us-central1", "--to", "pubsub", "--steps", "50,100")
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.out)
	}
	out := p.out.String()
	for _, want := range []string{
		"plan for pubsub on Cloud Run service ingest in us-central1 (revision tags grpc=blue,redis=green,pubsub=canary), from grpc=34,redis=33,pubsub=33",
		"step 1/2: pubsub 50%: grpc=25,redis=25,pubsub=50",
		"gcloud run services update-traffic ingest --region us-central1 --to-tags blue=25,green=25,canary=50 --quiet",
		"gcloud run services update-traffic ingest --region us-central1 --to-tags blue=0,green=0,canary=100 --quiet",
		"on rollback: grpc=34,redis=33,pubsub=33",
		"add --apply to run them",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, c := range calls(t, logPath) {
		if !slices.Contains(c, "describe") {
			t.Errorf("printing the plan ran %q", c)
		}
	}

	logPath, statePath := fakeTools(t, routeState, 0)
	p = startProc(t, testenv.CleanEnv(), "rollout", "--backend", "gke", "--apply", "--to", "pubsub", "--steps", "50,100",
		"--interval", "1s", "--min-records", "10", "--metrics", feed(t, "pubsub"))
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.out)
	}
	if !strings.Contains(p.out.String(), "PROMOTED") {
		t.Errorf("output:\n%s", p.out)
	}
	patches := 0
	for _, c := range calls(t, logPath) {
		if slices.Contains(c, "patch") {
			patches++
		}
	}
	raw, _ := os.ReadFile(statePath)
	if patches != 2 || !strings.Contains(string(raw), `"name":"ingest-pubsub","port":80,"weight":100`) {
		t.Errorf("%d patches; HTTPRoute now %s", patches, raw)
	}

	// A bad command line is refused with the usage.
	p = startProc(t, testenv.CleanEnv(), "rollout", "--to", "kafka")
	if code := p.wait(t, 30*time.Second); code != 2 || !strings.Contains(p.out.String(), "--to must be one of grpc, redis, pubsub") {
		t.Errorf("exit %d:\n%s", code, p.out)
	}
}
