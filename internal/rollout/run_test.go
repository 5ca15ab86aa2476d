package rollout

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/split"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

var even = split.Weights{"grpc": 34, "redis": 33, "pubsub": 33}

// memPublisher keeps every state published.
type memPublisher struct {
	mu     sync.Mutex
	states []State
}

func (p *memPublisher) Publish(ctx context.Context, s *State) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := *s
	c.Checks = slices.Clone(s.Checks)
	c.Weights = s.Weights.Clone()
	p.states = append(p.states, c)
	return nil
}

func (p *memPublisher) last() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.states[len(p.states)-1]
}

func config(b Backend, scrape string, to string, steps ...int) (Config, *testenv.SyncBuffer, *memPublisher) {
	out, pub := &testenv.SyncBuffer{}, &memPublisher{}
	return Config{
		Route: to, Steps: steps, Interval: 400 * time.Millisecond, MaxFailures: 2, MaxInconclusive: 2,
		Thresholds: Thresholds{MinSuccess: 99, MaxP99: 500 * time.Millisecond, MinRecords: 10},
		Backend:    b, Metrics: &Scraper{URLs: []string{scrape}}, Publisher: pub, Out: out,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, out, pub
}

func run(t *testing.T, ctx context.Context, cfg Config) (*Result, error) {
	t.Helper()
	p, err := Prepare(ctx, cfg.Backend, cfg.Route, cfg.Steps)
	if err != nil {
		t.Fatal(err)
	}
	return Run(ctx, cfg, p)
}

// count counts the checks with verdict v (at step, when step > 0).
func count(cs []Check, v string, step int) int {
	n := 0
	for _, c := range cs {
		if c.Verdict == v && (step == 0 || c.Step == step) {
			n++
		}
	}
	return n
}

func verdicts(cs []Check) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Verdict)
	}
	return out
}

func TestRolloutToHealthyRoutePromotes(t *testing.T) {
	// A new route, at 0 so far.
	start := split.Weights{"grpc": 50, "redis": 0, "pubsub": 50}
	h := newIngest(t, "", start)
	stop := testenv.Load(t, h.URL, 4*time.Millisecond)
	cfg, out, pub := config(&Local{Target: h.URL, Token: h.Token}, h.URL+"/metrics", "redis", 5, 50, 100)
	cfg.Thresholds.MinRecords = 5 // 5% of about 100 records an interval
	cfg.MaxInconclusive = 10      // a busy machine may send too little in an interval: wait, do not fail
	res, err := run(t, t.Context(), cfg)
	if _, refused := stop(); refused != 0 {
		t.Errorf("%d requests refused during the rollout", refused)
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Verdict != Promoted {
		t.Fatalf("verdict %s: %s\n%s", res.Verdict, res.Reason, out)
	}
	want := split.Weights{"grpc": 0, "redis": 100, "pubsub": 0}
	if got := h.split.Weights(); !reflect.DeepEqual(got, want) {
		t.Errorf("the ingest's split is %v, want %v", got, want)
	}
	if count(res.Checks, Pass, 5) != 1 || count(res.Checks, Pass, 50) != 1 || count(res.Checks, Pass, 100) != 1 || count(res.Checks, Fail, 0) != 0 {
		t.Errorf("checks %v, want one pass at each of 5, 50, 100 and no failure\n%s", verdicts(res.Checks), out)
	}
	for _, c := range res.Checks {
		if c.Verdict == Pass && (c.SuccessPct == nil || *c.SuccessPct != 100 || c.P99Ms == nil) {
			t.Errorf("check %+v lacks its numbers", c)
		}
	}
	text := out.String()
	for _, want := range []string{"step 1/3 (redis 5%): split set to grpc=48,redis=5,pubsub=47", "step 3/3 (redis 100%) check 1: PASS", "PROMOTED", "summary: redis promoted"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	st := pub.last()
	if st.Verdict != Promoted || st.Step != 100 || len(st.Checks) != len(res.Checks) || !reflect.DeepEqual(st.Weights, want) || !reflect.DeepEqual(st.From, start) {
		t.Errorf("published state %+v", st)
	}
	if first := pub.states[0]; first.Verdict != Running {
		t.Errorf("first published verdict %q, want running", first.Verdict)
	}
}

func TestRolloutToFailingRouteRollsBackWithinBudget(t *testing.T) {
	h := newIngest(t, "pubsub:error=0.3", even)
	stop := testenv.Load(t, h.URL, 4*time.Millisecond)
	cfg, out, pub := config(&Local{Target: h.URL, Token: h.Token}, h.URL+"/metrics", "pubsub", 50, 100)
	cfg.MaxInconclusive = 10
	res, err := run(t, t.Context(), cfg)
	ok, refused := stop()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Verdict != RolledBack {
		t.Fatalf("verdict %s: %s\n%s", res.Verdict, res.Reason, out)
	}
	if got := verdicts(res.Checks); count(res.Checks, Fail, 50) != 2 || count(res.Checks, Pass, 0) != 0 || got[len(got)-1] != Fail {
		t.Errorf("checks %v, want exactly --max-failures (2) failures at 50%%, then the rollback\n%s", got, out)
	}
	if got := h.split.Weights(); !reflect.DeepEqual(got, even) {
		t.Errorf("split after rollback %v, want the starting %v", got, even)
	}
	for _, c := range res.Checks {
		if c.Verdict == Fail && (c.Step != 50 || c.SuccessPct == nil || *c.SuccessPct > 80 || *c.SuccessPct < 60) {
			t.Errorf("check %+v: want step 50 and a success rate near 70%%", c)
		}
	}
	if !strings.Contains(res.Reason, "2 failed checks") || !strings.Contains(res.Reason, "success") {
		t.Errorf("reason %q does not say why", res.Reason)
	}
	if !strings.Contains(out.String(), "ROLLED BACK") || !strings.Contains(out.String(), "[failed checks 2/2]") {
		t.Errorf("output:\n%s", out)
	}
	// The ingest failed the records over: clients saw no refusal.
	if ok == 0 || refused != 0 {
		t.Errorf("clients: %d accepted, %d refused; want all accepted (failover)", ok, refused)
	}
	if st := pub.last(); st.Verdict != RolledBack || !reflect.DeepEqual(st.Weights, even) || st.FailedChecks != 2 || st.Reason != res.Reason {
		t.Errorf("published state %+v", st)
	}
}

func TestRolloutWithoutTrafficIsInconclusiveNotAPass(t *testing.T) {
	h := newIngest(t, "", even)
	cfg, out, _ := config(&Local{Target: h.URL, Token: h.Token}, h.URL+"/metrics", "grpc", 50, 100)
	cfg.Interval = 200 * time.Millisecond
	res, err := run(t, t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != RolledBack || !slices.Equal(verdicts(res.Checks), []string{Inconclusive, Inconclusive}) {
		t.Fatalf("verdict %s, checks %v; want a rollback after 2 inconclusive checks\n%s", res.Verdict, verdicts(res.Checks), out)
	}
	if !strings.Contains(res.Reason, "too little traffic") {
		t.Errorf("reason %q", res.Reason)
	}
	if got := h.split.Weights(); !reflect.DeepEqual(got, even) {
		t.Errorf("split %v, want %v", got, even)
	}
}

func TestInterruptedRolloutLeavesTheSplitAndSaysWhere(t *testing.T) {
	h := newIngest(t, "", even)
	testenv.Load(t, h.URL, 4*time.Millisecond)
	cfg, out, pub := config(&Local{Target: h.URL, Token: h.Token}, h.URL+"/metrics", "grpc", 50, 100)
	cfg.Interval = time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	go func() { // the person presses Ctrl-C once the first step is set
		for !strings.Contains(out.String(), "split set to") {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	res, err := run(t, ctx, cfg)
	if !errors.Is(err, ErrInterrupted) || res.Verdict != Interrupted {
		t.Fatalf("err %v, result %+v", err, res)
	}
	step := split.Weights{"grpc": 50, "redis": 25, "pubsub": 25}
	if got := h.split.Weights(); !reflect.DeepEqual(got, step) {
		t.Errorf("split %v, want it left at the step, %v", got, step)
	}
	if !reflect.DeepEqual(res.Weights, step) {
		t.Errorf("result says %v", res.Weights)
	}
	text := out.String()
	for _, want := range []string{
		"INTERRUPTED: stopped by a signal or deadline at step 1/2 (grpc 50%)",
		"the split is now grpc=50,redis=25,pubsub=25 (read back from",
		`to finish (grpc at 100%): curl -fsS -X PUT ` + h.URL + `/api/split -H "Authorization: Bearer $ADMIN_TOKEN"`,
		`'{"weights":{"grpc":100,"pubsub":0,"redis":0}}'`,
		`to undo (the split before the rollout, grpc=34,redis=33,pubsub=33): curl`,
		`'{"weights":{"grpc":34,"pubsub":33,"redis":33}}'`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if st := pub.last(); st.Verdict != Interrupted || !reflect.DeepEqual(st.Weights, step) || st.Step != 50 {
		t.Errorf("published state %+v", st)
	}
}

// feed makes route look healthy on a metrics endpoint of its own (the cloud
// backends' ingests are elsewhere; this stands for their federated metrics).
func feed(t *testing.T, route string) string {
	m := metrics.New()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			m.Records.WithLabelValues(route, "accepted").Add(5)
			m.Handoff.WithLabelValues(route).Observe(0.002)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return srv.URL
}

func TestCloudRunRollout(t *testing.T) {
	logPath, _ := fakeTools(t, runState, 0)
	b, _ := NewCloudRun("ingest", "us-central1", "", DefaultTags)
	cfg, out, _ := config(b, feed(t, "pubsub"), "pubsub", 50, 100)
	cfg.Interval = 200 * time.Millisecond
	res, err := run(t, t.Context(), cfg)
	if err != nil || res.Verdict != Promoted {
		t.Fatalf("%v %+v\n%s", err, res, out)
	}
	var sets []string
	for _, c := range calls(t, logPath) {
		if slices.Contains(c, "update-traffic") {
			sets = append(sets, flagValue(c, "--to-tags"))
		}
	}
	if want := []string{"blue=25,green=25,canary=50", "blue=0,green=0,canary=100"}; !slices.Equal(sets, want) {
		t.Errorf("traffic updates %q, want %q", sets, want)
	}
}

func TestBackendErrorMidwayInterrupts(t *testing.T) {
	logPath, _ := fakeTools(t, routeState, 2) // the second change fails
	b, _ := NewGKE(KindHTTPRoute, "ingest", "vacunometro", DefaultBackendRefs, "")
	cfg, out, pub := config(b, feed(t, "pubsub"), "pubsub", 50, 100)
	cfg.Interval = 200 * time.Millisecond
	res, err := run(t, t.Context(), cfg)
	if !errors.Is(err, ErrInterrupted) || res.Verdict != Interrupted {
		t.Fatalf("err %v, result %+v\n%s", err, res, out)
	}
	step1 := split.Weights{"grpc": 25, "redis": 25, "pubsub": 50}
	if !reflect.DeepEqual(res.Weights, step1) {
		t.Errorf("result weights %v, want the first step's %v (read back)", res.Weights, step1)
	}
	c := calls(t, logPath)
	if last := c[len(c)-1]; !slices.Contains(last, "get") {
		t.Errorf("the split was not read back after the error: last call %q", last)
	}
	text := out.String()
	for _, want := range []string{"stopped by an error: patch HTTPRoute vacunometro/ingest", "i/o timeout", "at step 2/2 (pubsub 100%)",
		"the split is now grpc=25,redis=25,pubsub=50", "to finish (pubsub at 100%): kubectl patch httproute ingest -n vacunometro --type=json -p",
		"to undo (the split before the rollout, grpc=34,redis=33,pubsub=1): kubectl patch"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if st := pub.last(); st.Verdict != Interrupted || st.Step != 50 {
		t.Errorf("published %+v", st)
	}
}

func TestRolloutToSlowRouteFailsOnP99(t *testing.T) {
	h := newIngest(t, "grpc:latency=600ms", split.Weights{"grpc": 0, "redis": 100, "pubsub": 0})
	stop := testenv.Load(t, h.URL, 4*time.Millisecond)
	cfg, out, _ := config(&Local{Target: h.URL, Token: h.Token}, h.URL+"/metrics", "grpc", 50, 100)
	cfg.Interval = 1500 * time.Millisecond
	cfg.Thresholds.MinRecords = 1 // one client, one request at a time: few slow records
	cfg.MaxInconclusive = 10
	res, err := run(t, t.Context(), cfg)
	stop()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Verdict != RolledBack || count(res.Checks, Fail, 50) != 2 || count(res.Checks, Pass, 0) != 0 {
		t.Fatalf("verdict %s, checks %v\n%s", res.Verdict, verdicts(res.Checks), out)
	}
	for _, c := range res.Checks {
		if c.Verdict != Fail {
			continue
		}
		if !strings.Contains(c.Reason, "handoff p99") || !strings.Contains(c.Reason, "> 500ms") || c.P99Ms == nil || *c.P99Ms < 500 {
			t.Errorf("check %+v: want a failure on the handoff p99", c)
		}
		if c.SuccessPct == nil || *c.SuccessPct != 100 {
			t.Errorf("check %+v: a slow route still took every record", c)
		}
	}
}

func TestRolloutStopsWhenSomeoneElseChangesTheSplit(t *testing.T) {
	h := newIngest(t, "", even)
	testenv.Load(t, h.URL, 4*time.Millisecond)
	cfg, out, _ := config(&Local{Target: h.URL, Token: h.Token}, h.URL+"/metrics", "grpc", 50, 100)
	manual := split.Weights{"grpc": 10, "redis": 90, "pubsub": 0}
	go func() { // an operator steps in by hand during the first interval
		for !strings.Contains(out.String(), "split set to") {
			time.Sleep(5 * time.Millisecond)
		}
		h.split.Set(manual)
	}()
	res, err := run(t, t.Context(), cfg)
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, ErrChangedElsewhere) {
		t.Fatalf("err %v\n%s", err, out)
	}
	if got := h.split.Weights(); !reflect.DeepEqual(got, manual) {
		t.Errorf("the rollout overwrote the operator's split: %v, want %v", got, manual)
	}
	if len(res.Checks) != 0 {
		t.Errorf("judged %d checks under a split the rollout did not set", len(res.Checks))
	}
	if !reflect.DeepEqual(res.Weights, manual) || !strings.Contains(out.String(), "it is grpc=10,redis=90,pubsub=0, this rollout left it at grpc=50,redis=25,pubsub=25") {
		t.Errorf("result %v\n%s", res.Weights, out)
	}
}
