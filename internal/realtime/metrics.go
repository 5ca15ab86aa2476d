package realtime

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// hubMetrics are the Hub's Prometheus metrics (vacunometro_realtime_*);
// they are its only counters.
type hubMetrics struct {
	lag          prometheus.Histogram
	droppedBy    *prometheus.CounterVec
	rejectedBy   *prometheus.CounterVec
	sent         prometheus.Counter
	broadcasts   prometheus.Counter
	skipped      prometheus.Counter
	sourceErrors prometheus.Counter
}

// init makes the metrics and registers them with reg (if not nil), with
// gauges of the connected clients and of the Redis subscription.
func (m *hubMetrics) init(reg prometheus.Registerer, clients func() int, subscribed func() bool) error {
	const ns, sub = "vacunometro", "realtime"
	m.lag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "broadcast_lag_seconds",
		Help:    "Time from the first change notice to the snapshot queued to every client.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .15, .25, .5, 1, 2.5, 5},
	})
	m.droppedBy = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "clients_dropped_total",
		Help: "Clients disconnected by the server, by reason (write: a frame could not be written in time; pong: no pong in time).",
	}, []string{"reason"})
	m.rejectedBy = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "rejected_total",
		Help: "WebSocket upgrades refused, by reason.",
	}, []string{"reason"})
	m.sent = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "messages_sent_total",
		Help: "Snapshot frames written to clients."})
	m.broadcasts = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "broadcasts_total",
		Help: "Snapshots pushed to all clients."})
	m.skipped = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "frames_skipped_total",
		Help: "Frames a slow client skipped because a newer snapshot replaced them in its queue."})
	m.sourceErrors = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "source_errors_total",
		Help: "Failed snapshot reads."})
	if reg == nil {
		return nil
	}
	cs := []prometheus.Collector{
		m.lag, m.droppedBy, m.rejectedBy, m.sent, m.broadcasts, m.skipped, m.sourceErrors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "clients",
			Help: "Connected WebSocket clients."}, func() float64 { return float64(clients()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "redis_subscribed",
			Help: "1 while the Redis change-notice subscription is up."}, func() float64 {
			if subscribed() {
				return 1
			}
			return 0
		}),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("realtime: register metrics: %w", err)
		}
	}
	return nil
}
