package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterBuildInfo adds vacunometro_build_info{version, goversion} = 1, so that dashboards and
// alerts can tell which release each instance runs (a canary's series from the stable ones).
func (m *Metrics) RegisterBuildInfo(version string) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vacunometro_build_info", Help: "The running build: version and Go version (always 1)."}, []string{"version", "goversion"})
	g.WithLabelValues(version, runtime.Version()).Set(1)
	m.Registry.MustRegister(g)
}
