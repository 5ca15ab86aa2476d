package rollout

// The release tracks of the GKE tier: a GRPCRoute between grpc-server-stable
// and grpc-server-canary, stepped by the GKE backend and judged by the sink
// metrics of each track's pods (TrackQuery) read from a Prometheus-API double.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/split"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

const grpcRouteState = `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"GRPCRoute","metadata":{"name":"grpc-server","namespace":"vacunometro"},
 "spec":{"parentRefs":[{"name":"grpc-server","kind":"Service","group":"core","port":50051}],"rules":[{"backendRefs":[
   {"name":"grpc-server-stable","port":50051,"weight":100},
   {"name":"grpc-server-canary","port":50051,"weight":0}]}]}}`

// trackProm is a Prometheus HTTP API that answers the TrackQuery's two
// queries with counters that grow on every answer, as the pods of each track
// would: per answer, every track stores 100 records (fresh, and a few
// duplicates) with a store lag under 100 ms; the canary also fails
// canaryFailed records (records it could not store).
type trackProm struct {
	mu           sync.Mutex
	n            map[string]int // answers per query kind
	canaryFailed int
	queries      []string
}

func (p *trackProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query().Get("query")
	p.mu.Lock()
	p.queries = append(p.queries, q)
	kind := "lag"
	if strings.Contains(q, metricSinkRecords) {
		kind = "records"
	}
	p.n[kind]++
	n := float64(p.n[kind])
	failed := float64(p.canaryFailed)
	p.mu.Unlock()
	type result struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	var res []result
	val := func(v float64) [2]any { return [2]any{float64(time.Now().Unix()), fmt.Sprint(v)} }
	for _, track := range []string{"stable", "canary"} {
		if kind == "records" {
			res = append(res,
				result{map[string]string{"track": track, "outcome": "fresh"}, val(95 * n)},
				result{map[string]string{"track": track, "outcome": "duplicate"}, val(5 * n)})
			if track == "canary" {
				res = append(res, result{map[string]string{"track": track, "outcome": "failed"}, val(failed * n)})
			}
			continue
		}
		res = append(res,
			result{map[string]string{"track": track, "le": "0.05"}, val(90 * n)},
			result{map[string]string{"track": track, "le": "0.1"}, val(95 * n)},
			result{map[string]string{"track": track, "le": "+Inf"}, val(95 * n)})
	}
	// A pod without the track label (a scrape before the PodMonitoring had it) is no track's.
	if kind == "records" {
		res = append(res, result{map[string]string{"outcome": "fresh"}, val(1e6)})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": res}})
}

func newTrackProm(t *testing.T, canaryFailed int) (*trackProm, string) {
	p := &trackProm{n: map[string]int{}, canaryFailed: canaryFailed}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func TestGKEBackendMovesAGRPCRoute(t *testing.T) {
	logPath, statePath := fakeTools(t, grpcRouteState, 0)
	b, err := NewGKE(KindGRPCRoute, "grpc-server", "vacunometro", DefaultTrackRefs, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Describe(); got != "GRPCRoute vacunometro/grpc-server (backendRefs canary=grpc-server-canary,stable=grpc-server-stable)" {
		t.Errorf("Describe = %q", got)
	}
	w, err := b.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := (split.Weights{"stable": 100, "canary": 0}); !reflect.DeepEqual(w, want) {
		t.Errorf("Get = %v, want %v", w, want)
	}
	if err := b.Set(t.Context(), split.Weights{"stable": 75, "canary": 25}); err != nil {
		t.Fatal(err)
	}
	c := calls(t, logPath)
	if len(c) != 2 || !slices.Equal(c[0][:3], []string{"get", "grpcroute", "grpc-server"}) || !slices.Equal(c[1][:3], []string{"patch", "grpcroute", "grpc-server"}) {
		t.Fatalf("kubectl calls %q: want get then patch of the grpcroute", c)
	}
	raw, _ := os.ReadFile(statePath)
	if !strings.Contains(string(raw), `{"name":"grpc-server-stable","port":50051,"weight":75}`) || !strings.Contains(string(raw), `{"name":"grpc-server-canary","port":50051,"weight":25}`) {
		t.Errorf("GRPCRoute after Set: %s", raw)
	}
	if cmd := b.Command(split.Weights{"stable": 100, "canary": 0}); !strings.HasPrefix(cmd, "kubectl patch grpcroute grpc-server -n vacunometro --type=json -p ") {
		t.Errorf("Command = %q", cmd)
	}

	for _, bad := range []struct{ kind, refs, want string }{
		{"tcproute", DefaultTrackRefs, "want httproute or grpcroute"},
		{KindGRPCRoute, "canary=grpc-server-canary", "at least two"},
	} {
		if _, err := NewGKE(bad.kind, "grpc-server", "vacunometro", bad.refs, ""); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("NewGKE(%s, %s): %v, want %q", bad.kind, bad.refs, err, bad.want)
		}
	}
}

func TestTrackQueryObservesOneTrack(t *testing.T) {
	p, url := newTrackProm(t, 3)
	q := &TrackQuery{Prom: &PromQuery{URL: url, Selector: `namespace="vacunometro"`}}
	before, err := q.Scrape(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	after, err := q.Scrape(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	canary := Observe(before, after, "canary")
	if canary.Accepted != 100 || canary.Failed != 3 {
		t.Errorf("canary stored %v failed %v, want 100 (fresh and duplicate) and 3", canary.Accepted, canary.Failed)
	}
	if p99, ok := canary.Lag.Quantile(0.99); !ok || p99 > 0.1 {
		t.Errorf("canary lag p99 %v %v, want at most 100ms", p99, ok)
	}
	if stable := Observe(before, after, "stable"); stable.Accepted != 100 || stable.Failed != 0 {
		t.Errorf("stable stored %v failed %v: the tracks are mixed", stable.Accepted, stable.Failed)
	}
	want := []string{
		`sum by (track, outcome) (vacunometro_sink_records_total{namespace="vacunometro"})`,
		`sum by (track, le) (vacunometro_store_lag_seconds_bucket{namespace="vacunometro"})`,
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range want {
		if !slices.Contains(p.queries, w) {
			t.Errorf("queries %q lack %q", p.queries, w)
		}
	}
}

func trackConfig(t *testing.T, canaryFailed int) (Config, *testenv.SyncBuffer) {
	b, err := NewGKE(KindGRPCRoute, "grpc-server", "vacunometro", DefaultTrackRefs, "")
	if err != nil {
		t.Fatal(err)
	}
	_, url := newTrackProm(t, canaryFailed)
	cfg, out, _ := config(b, "", "canary", 10, 50, 100)
	cfg.Metrics = &TrackQuery{Prom: &PromQuery{URL: url}}
	cfg.Interval = 100 * time.Millisecond
	cfg.Thresholds.MaxLag = 2 * time.Second
	return cfg, out
}

func routeWeights(t *testing.T, logPath string) []string {
	var sets []string
	for _, c := range calls(t, logPath) {
		if slices.Contains(c, "patch") {
			var ops []struct {
				Op    string `json:"op"`
				Path  string `json:"path"`
				Value any    `json:"value"`
			}
			if err := json.Unmarshal([]byte(flagValue(c, "-p")), &ops); err != nil {
				t.Fatal(err)
			}
			var ws []string
			for _, op := range ops {
				if op.Op == "add" {
					ws = append(ws, fmt.Sprint(op.Value))
				}
			}
			sets = append(sets, strings.Join(ws, "/"))
		}
	}
	return sets
}

// A canary whose pods store every record is stepped 10, 50, 100 and promoted.
func TestTrackRolloutPromotesAHealthyCanary(t *testing.T) {
	logPath, statePath := fakeTools(t, grpcRouteState, 0)
	cfg, out := trackConfig(t, 0)
	res, err := run(t, t.Context(), cfg)
	if err != nil || res.Verdict != Promoted {
		t.Fatalf("%v %+v\n%s", err, res, out)
	}
	// canary first ("canary" < "stable" by name): canary/stable weights.
	if got, want := routeWeights(t, logPath), []string{"10/90", "50/50", "100/0"}; !slices.Equal(got, want) {
		t.Errorf("GRPCRoute weights (canary/stable) %q, want %q", got, want)
	}
	raw, _ := os.ReadFile(statePath)
	if !strings.Contains(string(raw), `{"name":"grpc-server-canary","port":50051,"weight":100}`) {
		t.Errorf("GRPCRoute at the end: %s", raw)
	}
	if !strings.Contains(out.String(), "store lag p99") {
		t.Errorf("the checks did not judge the store lag:\n%s", out)
	}
}

// A canary whose pods fail to store records fails its checks at the first
// step, and the route goes back to stable 100 / canary 0 by itself.
func TestTrackRolloutRollsBackAFailingCanary(t *testing.T) {
	logPath, statePath := fakeTools(t, grpcRouteState, 0)
	cfg, out := trackConfig(t, 20) // 20 failed of every 120: 83% success
	res, err := run(t, t.Context(), cfg)
	if err != nil || res.Verdict != RolledBack {
		t.Fatalf("%v %+v\n%s", err, res, out)
	}
	if count(res.Checks, Fail, 10) != 2 || count(res.Checks, Pass, 0) != 0 {
		t.Errorf("checks %v, want two failures at 10%%", verdicts(res.Checks))
	}
	if got, want := routeWeights(t, logPath), []string{"10/90", "0/100"}; !slices.Equal(got, want) {
		t.Errorf("GRPCRoute weights (canary/stable) %q, want %q", got, want)
	}
	raw, _ := os.ReadFile(statePath)
	if !strings.Contains(string(raw), `{"name":"grpc-server-canary","port":50051,"weight":0}`) || !strings.Contains(string(raw), `{"name":"grpc-server-stable","port":50051,"weight":100}`) {
		t.Errorf("GRPCRoute after the rollback: %s", raw)
	}
	if !reflect.DeepEqual(res.Weights, split.Weights{"stable": 100, "canary": 0}) || !strings.Contains(out.String(), "success 83.33% < 99% (20 of 120 records failed on canary; the track's pods could not store them)") {
		t.Errorf("result %v\n%s", res.Weights, out)
	}
}

// The command: `rollout --backend gke --by track` steps the GRPCRoute and
// rolls a failing canary back (exit 1); a bad command line changes nothing.
func TestRolloutCommandByTrack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--by", "track", "--to", "canary", "--grpcroute", "grpc-server", "--max-lag", "2s"}, "--by track needs --backend gke"},
		{[]string{"--backend", "gke", "--by", "track", "--to", "canary", "--grpcroute", "grpc-server", "--max-lag", "2s"}, "--by track needs --prometheus"},
		{[]string{"--backend", "gke", "--by", "track", "--to", "canary", "--grpcroute", "grpc-server", "--prometheus", "http://127.0.0.1:1"}, "set --max-lag"},
		{[]string{"--backend", "gke", "--by", "version", "--to", "canary"}, "--by must be route or track"},
	} {
		logPath, _ := fakeTools(t, grpcRouteState, 0)
		p := startRollout(t, bad.args...)
		if code := p.Wait(30 * time.Second); code != 2 || !strings.Contains(p.Logs(0), bad.want) {
			t.Errorf("%q: exit %d, want 2 and %q:\n%s", bad.args, code, bad.want, p.Logs(20000))
		}
		if c := calls(t, logPath); len(c) != 0 {
			t.Errorf("%q ran kubectl: %q", bad.args, c)
		}
	}

	logPath, statePath := fakeTools(t, grpcRouteState, 0)
	_, url := newTrackProm(t, 20)
	p := startRollout(t, "--backend", "gke", "--apply", "--by", "track", "--to", "canary", "--grpcroute", "grpc-server",
		"--steps", "10,50", "--interval", "300ms", "--min-records", "10", "--max-lag", "2s", "--prometheus", url)
	if code := p.Wait(30 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1 (rolled back):\n%s", code, p.Logs(20000))
	}
	out := p.Logs(0)
	for _, want := range []string{"rollout of canary on GRPCRoute vacunometro/grpc-server", "ROLLED BACK", "success 83.33% < 99%", "the split is canary=0,stable=100"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got, want := routeWeights(t, logPath), []string{"10/90", "0/100"}; !slices.Equal(got, want) {
		t.Errorf("GRPCRoute weights (canary/stable) %q, want %q", got, want)
	}
	raw, _ := os.ReadFile(statePath)
	if !strings.Contains(string(raw), `{"name":"grpc-server-canary","port":50051,"weight":0}`) {
		t.Errorf("GRPCRoute after the rollback: %s", raw)
	}
}
