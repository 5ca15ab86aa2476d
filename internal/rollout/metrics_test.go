package rollout

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/metrics"
)

func TestParseText(t *testing.T) {
	in := `# HELP vacunometro_records_total Records by route and outcome.
# TYPE vacunometro_records_total counter
vacunometro_records_total{outcome="accepted",route="grpc"} 120
vacunometro_records_total{route="pubsub",outcome="failed"} 3 1700000000000
vacunometro_route_handoff_seconds_bucket{route="grpc",le="+Inf"} 7
odd_label{path="a\"b\\c\nd", x = "y" ,} 1e3
no_labels 4.5
`
	got, err := ParseText(strings.NewReader(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("%d samples, want 5: %+v", len(got), got)
	}
	// expfmt returns the families sorted by name; find each sample by what it is.
	find := func(name, label, value string) Sample {
		t.Helper()
		for _, s := range got {
			if s.Name == name && (label == "" || s.Labels[label] == value) {
				return s
			}
		}
		t.Fatalf("no sample %s{%s=%q} in %+v", name, label, value, got)
		return Sample{}
	}
	if s := find(metricRecords, "outcome", "accepted"); s.Labels["route"] != "grpc" || s.Value != 120 {
		t.Errorf("accepted sample = %+v", s)
	}
	if s := find(metricRecords, "outcome", "failed"); s.Value != 3 || s.Labels["route"] != "pubsub" {
		t.Errorf("sample with a timestamp = %+v", s)
	}
	if s := find(metricHandoff+bucketSuffix, "le", "+Inf"); s.Value != 7 {
		t.Errorf("bucket = %+v", s)
	}
	if s := find("odd_label", "", ""); s.Labels["path"] != "a\"b\\c\nd" || s.Labels["x"] != "y" || s.Value != 1000 {
		t.Errorf("escaped labels = %+v", s)
	}
	if s := find("no_labels", "", ""); s.Value != 4.5 || len(s.Labels) != 0 {
		t.Errorf("no labels = %+v", s)
	}

	for _, bad := range []string{`x{a="b} 1`, `x{a=b} 1`, `x{a="b"}`, `x{a="b"} one`, `x{a} 1`} {
		if _, err := ParseText(strings.NewReader(bad+"\n"), nil); err == nil {
			t.Errorf("ParseText(%q) accepted a malformed line", bad)
		}
	}
}

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name string
		h    Histogram
		q    float64
		want float64
		ok   bool
	}{
		{"empty", nil, 0.99, 0, false},
		{"no observations", Histogram{{0.1, 0}, {inf, 0}}, 0.99, 0, false},
		// 100 observations: 90 ≤ 10ms, 9 in (10ms, 50ms], 1 in (50ms, 100ms].
		// rank 99 is the last of the second bucket: 50ms.
		{"interpolated at a bound", Histogram{{0.01, 90}, {0.05, 99}, {0.1, 100}, {inf, 100}}, 0.99, 0.05, true},
		// 200 observations, 100 in each of (0,10ms] and (10ms,20ms]: rank 198
		// is 98% into the second bucket: 10 + 10*0.98 = 19.8ms.
		{"interpolated inside", Histogram{{0.01, 100}, {0.02, 200}, {inf, 200}}, 0.99, 0.0198, true},
		{"first bucket from zero", Histogram{{0.1, 10}, {inf, 10}}, 0.5, 0.05, true},
		{"in the +Inf bucket: highest finite bound", Histogram{{0.5, 1}, {10, 2}, {inf, 100}}, 0.99, 10, true},
		{"unsorted, non-monotonic input", Histogram{{inf, 100}, {0.05, 98}, {0.01, 99}}, 0.5, 0.005050505050505051, true},
	}
	for _, tt := range tests {
		got, ok := tt.h.Quantile(tt.q)
		if ok != tt.ok || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: Quantile(%v) = %v, %v; want %v, %v", tt.name, tt.q, got, ok, tt.want, tt.ok)
		}
	}
}

// TestObserveDeltas scrapes the real metrics of two processes (as the
// ingest and a worker would serve them) and checks that one route's window
// counts only what happened between the scrapes, added up over processes.
func TestObserveDeltas(t *testing.T) {
	m1, m2 := metrics.New(), metrics.New()
	s1 := httptest.NewServer(m1.Handler())
	defer s1.Close()
	s2 := httptest.NewServer(m2.Handler())
	defer s2.Close()
	sc := &Scraper{URLs: []string{s1.URL, s2.URL}}

	// Before the window: history that must not count.
	m1.Records.WithLabelValues("grpc", "accepted").Add(1000)
	m1.Records.WithLabelValues("grpc", "failed").Add(500)
	for range 1000 {
		m1.Handoff.WithLabelValues("grpc").Observe(5) // slow history
	}
	before, err := sc.Scrape(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The window: 200 taken and 2 failed on grpc over two processes,
	// handoff 3ms for 198 and 300ms for 2; lag 40ms on the worker; another
	// route's failures must not count.
	m1.Records.WithLabelValues("grpc", "accepted").Add(150)
	m2.Records.WithLabelValues("grpc", "accepted").Add(50)
	m1.Records.WithLabelValues("grpc", "failed").Add(2)
	m1.Records.WithLabelValues("pubsub", "failed").Add(999)
	for i := range 200 {
		d := 0.003
		if i < 2 {
			d = 0.3
		}
		m1.Handoff.WithLabelValues("grpc").Observe(d)
		m2.StoreLag.WithLabelValues("grpc").Observe(0.04)
	}
	time.Sleep(10 * time.Millisecond)
	after, err := sc.Scrape(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	o := Observe(before, after, "grpc")
	if o.Accepted != 200 || o.Failed != 2 {
		t.Errorf("accepted %v failed %v, want 200 and 2", o.Accepted, o.Failed)
	}
	if o.Window <= 0 {
		t.Errorf("window %v", o.Window)
	}
	if p, _ := o.Handoff.Quantile(0.99); p < 0.0025 || p > 0.005 {
		t.Errorf("handoff p99 = %v, want within the 2.5-5ms bucket (the slow history must not count)", p)
	}
	if p, _ := o.Handoff.Quantile(0.999); p < 0.25 || p > 0.5 {
		t.Errorf("handoff p99.9 = %v, want within the 250-500ms bucket", p)
	}
	if p, ok := o.Lag.Quantile(0.99); !ok || p < 0.025 || p > 0.05 {
		t.Errorf("lag p99 = %v %v, want within 25-50ms", p, ok)
	}

	// A restarted process: its counters start again from zero; the delta is
	// what the new process counted, never negative.
	m3 := metrics.New()
	m3.Records.WithLabelValues("grpc", "accepted").Add(7)
	s1.Config.Handler = m3.Handler()
	again, err := sc.Scrape(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if o := Observe(after, again, "grpc"); o.Accepted != 7 || o.Failed != 0 {
		t.Errorf("after a restart: accepted %v failed %v, want 7 and 0", o.Accepted, o.Failed)
	}
}

func TestScrapeFailsWhenAnyURLFails(t *testing.T) {
	ok := httptest.NewServer(metrics.New().Handler())
	defer ok.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) }))
	defer down.Close()
	if _, err := (&Scraper{URLs: []string{ok.URL, down.URL}}).Scrape(t.Context()); err == nil || !strings.Contains(err.Error(), down.URL) {
		t.Errorf("scrape with a failing URL: %v, want an error naming it", err)
	}
}
