package check

import (
	"path/filepath"
	"strings"
	"testing"
)

func exported(t *testing.T) map[string]bool {
	t.Helper()
	m, err := ExportedMetrics(filepath.Join(repoRoot(t), "internal"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"vacunometro_records_total", "vacunometro_route_handoff_seconds_bucket", "vacunometro_build_info"} {
		if !m[want] {
			t.Fatalf("the code exports no %s? found %d names", want, len(m))
		}
	}
	return m
}

func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	ex := exported(t)
	for _, p := range CheckAlertRules([]byte(readRepoFile(t, "deploy/observability/rules.yaml")), ex) {
		t.Error(p)
	}
	for _, p := range CheckDashboard([]byte(readRepoFile(t, "deploy/observability/grafana-dashboard.json")), ex) {
		t.Error(p)
	}
	rules := readRepoFile(t, "deploy/observability/rules.yaml")
	for _, alert := range []string{"RouteErrorRate", "HandoffP99High", "QueueLagHigh", "ViewBehindMongoDB"} {
		if !strings.Contains(rules, "alert: Vacunometro"+alert) {
			t.Errorf("no alert Vacunometro%s", alert)
		}
	}
}

func TestObservabilityChecksCatchBadInput(t *testing.T) {
	ex := exported(t)
	rules := readRepoFile(t, "deploy/observability/rules.yaml")
	dash := readRepoFile(t, "deploy/observability/grafana-dashboard.json")
	for name, c := range map[string]struct {
		got  []string
		want string
	}{
		"misspelled metric in a rule":  {CheckAlertRules([]byte(strings.Replace(rules, "vacunometro_route_errors_total", "vacunometro_route_error_total", 1)), ex), "vacunometro_route_error_total is not a metric"},
		"unknown field in a rule":      {CheckAlertRules([]byte(strings.Replace(rules, "          for: 5m", "          fro: 5m", 1)), ex), "unknown field"},
		"misspelled metric in a panel": {CheckDashboard([]byte(strings.Replace(dash, "vacunometro_store_lag_seconds_bucket", "vacunometro_store_lag_bucket", 1)), ex), "vacunometro_store_lag_bucket is not a metric"},
		"dashboard not JSON":           {CheckDashboard([]byte(dash[:len(dash)/2]), ex), "not JSON"},
	} {
		if !containsSubstring(c.got, c.want) {
			t.Errorf("%s: problems %q do not mention %q", name, c.got, c.want)
		}
	}
}
