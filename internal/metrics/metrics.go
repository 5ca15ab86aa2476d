// Package metrics provides the Prometheus metrics of every vacunometro
// process, on a registry of its own (no global state).
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the collectors shared by the parts of one process.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests *prometheus.CounterVec   // handler, code
	HTTPDuration *prometheus.HistogramVec // handler
	Records      *prometheus.CounterVec   // route, outcome: accepted, rejected, failed
	RouteErrors  *prometheus.CounterVec   // route
	Handoff      *prometheus.HistogramVec // route: seconds from the request to the route's durable handoff
	StoreLag     *prometheus.HistogramVec // route: seconds from ingest to MongoDB (queue lag)
	Stored       *prometheus.CounterVec   // outcome: fresh, duplicate, failed
	Counted      prometheus.Counter
	SinkBatch    prometheus.Histogram
	RouteBatch   *prometheus.HistogramVec // route: records per write to the transport (XADD, call, message)
	Redelivered  *prometheus.CounterVec   // route: messages delivered again (claimed or redelivered)
	// Producer counts requests and records by producer and outcome:
	// accepted (records), refused (requests: no, unknown or revoked key;
	// producer "none" or "unknown" when the key names none), rate_limited
	// (records).
	Producer *prometheus.CounterVec // producer, outcome
}

var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New registers the collectors on a new registry, with the Go and process
// collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m := &Metrics{Registry: r}
	m.HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vacunometro_http_requests_total", Help: "HTTP requests by handler and status code."}, []string{"handler", "code"})
	m.HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vacunometro_http_request_duration_seconds", Help: "HTTP request latency.", Buckets: latencyBuckets}, []string{"handler"})
	m.Records = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vacunometro_records_total", Help: "Records by route and outcome (accepted, rejected, failed)."}, []string{"route", "outcome"})
	m.RouteErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vacunometro_route_errors_total", Help: "Failed deliveries to a route."}, []string{"route"})
	m.Handoff = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vacunometro_route_handoff_seconds", Help: "Time from the ingest to the route's durable handoff.", Buckets: latencyBuckets}, []string{"route"})
	m.StoreLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vacunometro_store_lag_seconds", Help: "Time from the ingest accepting a record to MongoDB storing it (queue lag).", Buckets: latencyBuckets}, []string{"route"})
	m.Stored = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vacunometro_sink_records_total", Help: "Records the sink wrote to MongoDB (fresh, duplicate) or failed to store (failed)."}, []string{"outcome"})
	m.Counted = prometheus.NewCounter(prometheus.CounterOpts{Name: "vacunometro_sink_counted_total", Help: "Records newly counted in the live view."})
	m.SinkBatch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vacunometro_sink_batch_records", Help: "Records per MongoDB InsertMany.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)})
	m.RouteBatch = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vacunometro_route_batch_records", Help: "Records per write to the route's transport (an XADD, a gRPC call, a Pub/Sub message).", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}, []string{"route"})
	m.Redelivered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vacunometro_redelivered_total", Help: "Messages a worker received again (claimed from a dead consumer or redelivered)."}, []string{"route"})
	m.Producer = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vacunometro_producer_total", Help: "By producer: records accepted, requests refused (no, unknown or revoked key), records rate-limited (429)."}, []string{"producer", "outcome"})
	for _, c := range []prometheus.Collector{m.HTTPRequests, m.HTTPDuration, m.Records, m.RouteErrors, m.Handoff, m.StoreLag, m.Stored, m.Counted, m.SinkBatch, m.RouteBatch, m.Redelivered, m.Producer} {
		f(c)
	}
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
