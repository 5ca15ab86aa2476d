package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// ExportedMetrics returns the metric names the Go code under dir registers with a literal
// `Name: "vacunometro_..."` (internal/metrics and friends), with the series names a histogram adds.
func ExportedMetrics(dir string) (map[string]bool, error) {
	re := regexp.MustCompile(`Name:\s*"(vacunometro_[a-z0-9_]+)"`)
	out := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			n := string(m[1])
			for _, s := range []string{"", "_bucket", "_sum", "_count"} {
				out[n+s] = true
			}
		}
		return nil
	})
	return out, err
}

var metricRef = regexp.MustCompile(`\bvacunometro_[a-z0-9_]+`)

func unknownMetrics(where, expr string, exported map[string]bool) []string {
	var out []string
	for _, m := range metricRef.FindAllString(expr, -1) {
		if !exported[m] {
			out = append(out, fmt.Sprintf("%s: %s is not a metric the code exports", where, m))
		}
	}
	return out
}

// GMP Rules, the part these files use (strictly decoded: an unknown field fails).
type gmpRules struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Groups []struct {
			Name     string `json:"name"`
			Interval string `json:"interval"`
			Rules    []struct {
				Alert       string            `json:"alert"`
				Record      string            `json:"record"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// CheckAlertRules decodes a Managed Prometheus Rules file strictly and returns its problems:
// wrong kind, rules without a name or an expression, metrics the code does not export.
func CheckAlertRules(src []byte, exported map[string]bool) []string {
	var r gmpRules
	if err := yaml.UnmarshalStrict(src, &r); err != nil {
		return []string{fmt.Sprintf("rules: %v", err)}
	}
	var problems []string
	if r.APIVersion != "monitoring.googleapis.com/v1" || (r.Kind != "Rules" && r.Kind != "ClusterRules" && r.Kind != "GlobalRules") {
		problems = append(problems, fmt.Sprintf("rules: %s %s is not a Managed Prometheus Rules object", r.APIVersion, r.Kind))
	}
	n := 0
	for _, g := range r.Spec.Groups {
		for i, rule := range g.Rules {
			n++
			where := fmt.Sprintf("rules: group %s rule %d (%s%s)", g.Name, i, rule.Alert, rule.Record)
			if (rule.Alert == "") == (rule.Record == "") {
				problems = append(problems, where+": needs exactly one of alert and record")
			}
			if strings.TrimSpace(rule.Expr) == "" {
				problems = append(problems, where+": no expr")
			}
			problems = append(problems, unknownMetrics(where, rule.Expr, exported)...)
		}
	}
	if n == 0 {
		problems = append(problems, "rules: no rules")
	}
	return problems
}

// CheckDashboard parses a Grafana dashboard (JSON) and returns its problems: invalid JSON, no
// panels, queries on metrics the code does not export.
func CheckDashboard(src []byte, exported map[string]bool) []string {
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&d); err != nil {
		return []string{fmt.Sprintf("dashboard: not JSON: %v", err)}
	}
	var problems []string
	if d.Title == "" || d.UID == "" {
		problems = append(problems, "dashboard: no title or uid")
	}
	exprs := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs++
			problems = append(problems, unknownMetrics("dashboard: panel "+p.Title, tg.Expr, exported)...)
		}
	}
	if exprs == 0 {
		problems = append(problems, "dashboard: no queries")
	}
	sort.Strings(problems)
	return problems
}
