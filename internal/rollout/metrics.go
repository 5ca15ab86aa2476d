package rollout

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The metrics a rollout judges a route by (internal/metrics).
const (
	metricRecords = "vacunometro_records_total"         // {route, outcome="accepted"|"failed"}
	metricHandoff = "vacunometro_route_handoff_seconds" // histogram {route}
	metricLag     = "vacunometro_store_lag_seconds"     // histogram {route}
	bucketSuffix  = "_bucket"
)

var wanted = map[string]bool{metricRecords: true, metricHandoff + bucketSuffix: true, metricLag + bucketSuffix: true}

// Sample is one sample of the Prometheus text exposition format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// ParseText reads the Prometheus text exposition format (what /metrics
// serves, and what a Prometheus server's /federate serves) with Prometheus's
// own parser (prometheus/common/expfmt) and returns the samples whose name
// keep accepts (all with a nil keep). Histograms come back as their
// _bucket (with le), _sum and _count samples, summaries as quantiles, _sum
// and _count, as in the text itself.
func ParseText(r io.Reader, keep func(name string) bool) ([]Sample, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	names := make([]string, 0, len(families))
	for n := range families {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Sample
	add := func(name string, labels map[string]string, v float64) {
		if keep == nil || keep(name) {
			out = append(out, Sample{Name: name, Labels: labels, Value: v})
		}
	}
	for _, n := range names {
		for _, m := range families[n].GetMetric() {
			labels := func(extra ...string) map[string]string {
				l := make(map[string]string, len(m.GetLabel())+1)
				for _, p := range m.GetLabel() {
					l[p.GetName()] = p.GetValue()
				}
				for i := 0; i+1 < len(extra); i += 2 {
					l[extra[i]] = extra[i+1]
				}
				return l
			}
			switch {
			case m.Counter != nil:
				add(n, labels(), m.GetCounter().GetValue())
			case m.Gauge != nil:
				add(n, labels(), m.GetGauge().GetValue())
			case m.Untyped != nil:
				add(n, labels(), m.GetUntyped().GetValue())
			case m.Histogram != nil:
				h := m.GetHistogram()
				inf := false
				for _, b := range h.GetBucket() {
					if math.IsInf(b.GetUpperBound(), 1) {
						inf = true
					}
					add(n+bucketSuffix, labels("le", formatBound(b.GetUpperBound())), float64(b.GetCumulativeCount()))
				}
				if !inf {
					add(n+bucketSuffix, labels("le", "+Inf"), float64(h.GetSampleCount()))
				}
				add(n+"_sum", labels(), h.GetSampleSum())
				add(n+"_count", labels(), float64(h.GetSampleCount()))
			case m.Summary != nil:
				sm := m.GetSummary()
				for _, q := range sm.GetQuantile() {
					add(n, labels("quantile", formatBound(q.GetQuantile())), q.GetValue())
				}
				add(n+"_sum", labels(), sm.GetSampleSum())
				add(n+"_count", labels(), float64(sm.GetSampleCount()))
			}
		}
	}
	return out, nil
}

func formatBound(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}

// Snapshot is one scrape of every metrics URL: the samples a rollout needs,
// by series (URL, name and labels).
type Snapshot struct {
	At     time.Time
	Series map[string]Sample
}

func seriesKey(url string, s Sample) string {
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(url)
	b.WriteByte(0)
	b.WriteString(s.Name)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(s.Labels[k])
	}
	return b.String()
}

// Scraper reads the metrics of the processes that carry a route: the
// ingest's /metrics (records and handoff latency) and, when the sink runs
// elsewhere, the /metrics of the gRPC server and the workers (store lag).
// On Cloud Run and GKE, where instances sit behind a load balancer (whose
// /metrics is one instance's), point it at a Prometheus-format endpoint that
// covers every instance: a Prometheus server's
// /federate?match[]={__name__=~"vacunometro_.*"}, or an OpenTelemetry
// Collector's prometheus exporter fed by every instance. Series of the same
// route from several instances and URLs are added up; a counter that went
// down (a restarted instance) counts from zero.
type Scraper struct {
	URLs   []string
	Client *http.Client
}

// Describe names the endpoints, for the log.
func (s *Scraper) Describe() string { return strings.Join(s.URLs, ",") }

// Scrape reads every URL once. Any URL failing fails the scrape: a partial
// view could make a failing route look healthy.
func (s *Scraper) Scrape(ctx context.Context) (*Snapshot, error) {
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	snap := &Snapshot{At: time.Now(), Series: map[string]Sample{}}
	for _, url := range s.URLs {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, fmt.Errorf("metrics %s: %w", url, err)
		}
		req.Header.Set("Accept", "text/plain;version=0.0.4")
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("metrics %s: %w", url, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("metrics %s: %s", url, resp.Status)
		}
		samples, err := ParseText(resp.Body, func(n string) bool { return wanted[n] })
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("metrics %s: %w", url, err)
		}
		for _, smp := range samples {
			snap.Series[seriesKey(url, smp)] = smp
		}
	}
	return snap, nil
}

// Bucket is a cumulative histogram bucket: Count observations ≤ UpperBound.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// Histogram is a list of cumulative buckets, the last with UpperBound +Inf.
type Histogram []Bucket

// Count is the number of observations.
func (h Histogram) Count() float64 {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].Count
}

// Quantile estimates the q-quantile as Prometheus's histogram_quantile does:
// linear interpolation inside the bucket the rank falls in; in the +Inf
// bucket, the highest finite upper bound. ok is false without observations.
func (h Histogram) Quantile(q float64) (v float64, ok bool) {
	if len(h) == 0 || h.Count() <= 0 {
		return 0, false
	}
	b := append(Histogram(nil), h...)
	sort.Slice(b, func(i, j int) bool { return b[i].UpperBound < b[j].UpperBound })
	// Deltas summed over series scraped at slightly different moments can
	// be non-monotonic: enforce monotonic counts, as Prometheus does.
	for i := 1; i < len(b); i++ {
		if b[i].Count < b[i-1].Count {
			b[i].Count = b[i-1].Count
		}
	}
	total := b[len(b)-1].Count
	rank := q * total
	i := sort.Search(len(b), func(i int) bool { return b[i].Count >= rank })
	if i >= len(b) {
		i = len(b) - 1
	}
	if math.IsInf(b[i].UpperBound, 1) {
		if len(b) < 2 {
			return math.Inf(1), true
		}
		return b[len(b)-2].UpperBound, true
	}
	start, prev := 0.0, 0.0
	if i > 0 {
		start, prev = b[i-1].UpperBound, b[i-1].Count
	}
	end, cnt := b[i].UpperBound, b[i].Count
	if cnt == prev {
		return end, true
	}
	return start + (end-start)*(rank-prev)/(cnt-prev), true
}

// Observation is what one route did between two scrapes.
type Observation struct {
	Route    string
	Window   time.Duration
	Accepted float64 // records the route took
	Failed   float64 // records the route failed to take (the ingest then failed over)
	Handoff  Histogram
	Lag      Histogram
}

// delta is a counter's increase between two scrapes; a counter that went
// down was reset (a restarted process), and counts from zero.
func delta(before *Snapshot, key string, after float64) float64 {
	if before == nil {
		return after
	}
	b, ok := before.Series[key]
	if !ok || after < b.Value {
		return after
	}
	return after - b.Value
}

// Observe computes route's observation from two snapshots: counters'
// increases, added up over every series (instance, URL) of the route.
func Observe(before, after *Snapshot, route string) Observation {
	o := Observation{Route: route}
	if before != nil {
		o.Window = after.At.Sub(before.At)
	}
	handoff := map[float64]float64{}
	lag := map[float64]float64{}
	for key, s := range after.Series {
		if s.Labels["route"] != route {
			continue
		}
		d := delta(before, key, s.Value)
		switch s.Name {
		case metricRecords:
			switch s.Labels["outcome"] {
			case "accepted":
				o.Accepted += d
			case "failed":
				o.Failed += d
			}
		case metricHandoff + bucketSuffix, metricLag + bucketSuffix:
			le, err := parseValue(s.Labels["le"])
			if err != nil {
				continue
			}
			if s.Name == metricLag+bucketSuffix {
				lag[le] += d
			} else {
				handoff[le] += d
			}
		}
	}
	o.Handoff = toHistogram(handoff)
	o.Lag = toHistogram(lag)
	return o
}

func toHistogram(m map[float64]float64) Histogram {
	if len(m) == 0 {
		return nil
	}
	h := make(Histogram, 0, len(m))
	for le, c := range m {
		h = append(h, Bucket{UpperBound: le, Count: c})
	}
	sort.Slice(h, func(i, j int) bool { return h[i].UpperBound < h[j].UpperBound })
	return h
}
