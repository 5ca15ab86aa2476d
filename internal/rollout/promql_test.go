package rollout

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// promDouble serves recorded answers of the Prometheus HTTP API, one file per
// query and scrape (testdata/promql/<scrape>/<metric>.json), and records the
// queries it was asked.
type promDouble struct {
	t       *testing.T
	mu      sync.Mutex
	scrape  string
	queries []string
	auth    []string
}

func (d *promDouble) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query().Get("query")
	d.mu.Lock()
	d.queries = append(d.queries, q)
	d.auth = append(d.auth, r.Header.Get("Authorization"))
	scrape := d.scrape
	d.mu.Unlock()
	name := ""
	for _, m := range []string{metricRecords, metricHandoff + bucketSuffix, metricLag + bucketSuffix} {
		if strings.Contains(q, m) {
			name = m
		}
	}
	b, err := os.ReadFile(filepath.Join("testdata", "promql", scrape, name+".json"))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "bad_data", "error": "no recorded answer for " + q})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (d *promDouble) set(scrape string) { d.mu.Lock(); d.scrape = scrape; d.mu.Unlock() }

func TestPromQueryObservesARouteAcrossInstances(t *testing.T) {
	d := &promDouble{t: t}
	srv := httptest.NewServer(d)
	defer srv.Close()
	p := &PromQuery{URL: srv.URL, Selector: `namespace="vacunometro"`, Header: http.Header{"Authorization": {"Bearer test"}}}

	d.set("before")
	before, err := p.Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d.set("after")
	after, err := p.Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	after.At = before.At.Add(30 * time.Second)

	o := Observe(before, after, "pubsub")
	// Recorded: accepted 1000 -> 1450, failed 2 -> 7 (sums over every instance).
	if o.Accepted != 450 || o.Failed != 5 {
		t.Errorf("pubsub accepted %v failed %v, want 450 and 5", o.Accepted, o.Failed)
	}
	// Handoff buckets: 400 of the 450 new observations within 10 ms, all within 50 ms.
	if p99, ok := o.Handoff.Quantile(0.99); !ok || p99 <= 0.01 || p99 > 0.05 {
		t.Errorf("pubsub handoff p99 = %v, %v; want in (10ms, 50ms]", p99, ok)
	}
	if g := Observe(before, after, "grpc"); g.Accepted != 2000 || g.Failed != 0 {
		t.Errorf("grpc accepted %v failed %v, want 2000 and 0", g.Accepted, g.Failed)
	}
	if lag, ok := o.Lag.Quantile(0.5); !ok || lag <= 0 {
		t.Errorf("pubsub lag p50 = %v, %v", lag, ok)
	}
	for _, q := range d.queries {
		if !strings.HasPrefix(q, "sum by (route, ") || !strings.Contains(q, `{namespace="vacunometro"}`) {
			t.Errorf("query %q does not sum by route over the selector", q)
		}
	}
	for _, a := range d.auth {
		if a != "Bearer test" {
			t.Errorf("request without the configured header: %q", a)
		}
	}
}

func TestPromQueryFailsOnAnErrorAnswer(t *testing.T) {
	d := &promDouble{t: t}
	srv := httptest.NewServer(d)
	defer srv.Close()
	d.set("missing")
	_, err := (&PromQuery{URL: srv.URL}).Scrape(context.Background())
	if err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Errorf("err = %v, want the API's bad_data error", err)
	}
}
