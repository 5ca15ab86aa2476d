package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// PromQuery reads the rollout's metrics from a Prometheus HTTP API (GET
// /api/v1/query, instant queries): on GKE and Cloud Run that is Managed
// Service for Prometheus, which the PodMonitorings and the Cloud Run collector
// sidecar feed (https://cloud.google.com/stackdriver/docs/managed-prometheus/query-api-ui),
// reached through its frontend or directly at
// https://monitoring.googleapis.com/v1/projects/PROJECT/location/global/prometheus.
// Each query sums a counter over every instance, so the snapshot holds one
// series per route (and outcome or bucket) and Observe's deltas between two
// snapshots are what all instances did in between.
type PromQuery struct {
	// URL is the API root: requests go to URL + "/api/v1/query".
	URL string
	// Selector narrows every series, e.g. `namespace="vacunometro"` or
	// `job="ingest"`; empty means all.
	Selector string
	// Header is added to every request (e.g. Authorization for the Google API).
	Header http.Header
	Client *http.Client
}

// Describe names the API, for the log.
func (p *PromQuery) Describe() string { return "PromQL at " + p.URL }

// Queries returns the PromQL expressions a scrape runs, by the metric name
// their results are stored under.
func (p *PromQuery) Queries() map[string]string {
	sel := ""
	if p.Selector != "" {
		sel = "{" + p.Selector + "}"
	}
	return map[string]string{
		metricRecords:                `sum by (route, outcome) (` + metricRecords + sel + `)`,
		metricHandoff + bucketSuffix: `sum by (route, le) (` + metricHandoff + bucketSuffix + sel + `)`,
		metricLag + bucketSuffix:     `sum by (route, le) (` + metricLag + bucketSuffix + sel + `)`,
	}
}

// promResponse is the API's answer to an instant query with a vector result.
type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// Scrape runs every query once, at one evaluation time. Any query failing
// fails the scrape: a partial view could make a failing route look healthy.
func (p *PromQuery) Scrape(ctx context.Context) (*Snapshot, error) {
	at := time.Now()
	snap := &Snapshot{At: at, Series: map[string]Sample{}}
	for name, q := range p.Queries() {
		samples, err := p.query(ctx, q, at)
		if err != nil {
			return nil, err
		}
		for _, smp := range samples {
			smp.Name = name
			snap.Series[seriesKey(p.URL, smp)] = smp
		}
	}
	return snap, nil
}

// query runs one instant query at time at and returns its vector, labels
// without __name__.
func (p *PromQuery) query(ctx context.Context, q string, at time.Time) ([]Sample, error) {
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	form := url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(p.URL, "/")+"/api/v1/query?"+form.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("promql %s: %w", q, err)
	}
	for k, vs := range p.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("promql %s: %w", q, err)
	}
	var body promResponse
	derr := json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || body.Status != "success" {
		return nil, fmt.Errorf("promql %s: %s: %s %s", q, resp.Status, body.ErrorType, body.Error)
	}
	if derr != nil {
		return nil, fmt.Errorf("promql %s: decode: %w", q, derr)
	}
	if body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("promql %s: result type %q, want vector", q, body.Data.ResultType)
	}
	out := make([]Sample, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		s, ok := r.Value[1].(string)
		if !ok {
			return nil, fmt.Errorf("promql %s: value %v is not a string", q, r.Value[1])
		}
		v, err := parseValue(s)
		if err != nil {
			return nil, fmt.Errorf("promql %s: value %q: %w", q, s, err)
		}
		labels := map[string]string{}
		for k, lv := range r.Metric {
			if k != "__name__" {
				labels[k] = lv
			}
		}
		out = append(out, Sample{Labels: labels, Value: v})
	}
	return out, nil
}

// ---- release tracks: the pods of one version, by the label "track" ----

// The sink's metrics, exported by every pod that stores records (the gRPC
// server and the workers): what a track of those pods is judged by.
const (
	metricSinkRecords = "vacunometro_sink_records_total" // {outcome="fresh"|"duplicate"|"failed"}
	// TrackLabel is the label the PodMonitoring copies from the pod label
	// vacunometro.io/track (cluster/base/podmonitoring.yaml).
	TrackLabel = "track"
)

// TrackQuery reads, from a Prometheus HTTP API, what the pods of each release
// track (stable, canary: the series label TrackLabel) did, so that a rollout
// of the track "canary" judges the canary pods by their own metrics: success
// is the records their sinks stored (fresh or duplicate) against those they
// failed to store, latency the store lag (acceptance to MongoDB) of the
// records they stored. The snapshot holds the series under the rollout's
// names with the track as "route", so Observe(before, after, "canary") is
// the canary's observation. The handoff latency is the ingest's and is not
// per track: judge latency with --max-lag.
type TrackQuery struct {
	Prom *PromQuery
}

// Describe names the API, for the log.
func (t *TrackQuery) Describe() string {
	return fmt.Sprintf("PromQL at %s, by %s (sink metrics of each release track's pods)", t.Prom.URL, TrackLabel)
}

// Queries returns the PromQL expressions a scrape runs.
func (t *TrackQuery) Queries() map[string]string {
	sel := ""
	if t.Prom.Selector != "" {
		sel = "{" + t.Prom.Selector + "}"
	}
	return map[string]string{
		metricSinkRecords:        `sum by (` + TrackLabel + `, outcome) (` + metricSinkRecords + sel + `)`,
		metricLag + bucketSuffix: `sum by (` + TrackLabel + `, le) (` + metricLag + bucketSuffix + sel + `)`,
	}
}

// Scrape runs both queries at one evaluation time; any failing fails it.
func (t *TrackQuery) Scrape(ctx context.Context) (*Snapshot, error) {
	at := time.Now()
	snap := &Snapshot{At: at, Series: map[string]Sample{}}
	add := func(s Sample) {
		k := seriesKey(t.Prom.URL, s)
		if old, ok := snap.Series[k]; ok {
			s.Value += old.Value
		}
		snap.Series[k] = s
	}
	q := t.Queries()
	recs, err := t.Prom.query(ctx, q[metricSinkRecords], at)
	if err != nil {
		return nil, err
	}
	for _, s := range recs {
		track := s.Labels[TrackLabel]
		if track == "" {
			continue // a pod without the label: no track's
		}
		outcome := "failed"
		switch s.Labels["outcome"] {
		case "fresh", "duplicate":
			outcome = "accepted"
		case "failed":
		default:
			continue
		}
		add(Sample{Name: metricRecords, Labels: map[string]string{"route": track, "outcome": outcome}, Value: s.Value})
	}
	lag, err := t.Prom.query(ctx, q[metricLag+bucketSuffix], at)
	if err != nil {
		return nil, err
	}
	for _, s := range lag {
		if track := s.Labels[TrackLabel]; track != "" {
			add(Sample{Name: metricLag + bucketSuffix, Labels: map[string]string{"route": track, "le": s.Labels["le"]}, Value: s.Value})
		}
	}
	return snap, nil
}

// NewPromQuery returns a PromQuery of apiURL; with tokenFile, every request
// carries "Authorization: Bearer <the file's content>".
func NewPromQuery(apiURL, selector, tokenFile string) (*PromQuery, error) {
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--prometheus %q: want an http(s) URL", apiURL)
	}
	p := &PromQuery{URL: apiURL, Selector: selector}
	if tokenFile != "" {
		raw, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--prometheus-token-file: %w", err)
		}
		p.Header = http.Header{"Authorization": {"Bearer " + strings.TrimSpace(string(raw))}}
	}
	return p, nil
}
