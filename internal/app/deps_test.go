package app

import (
	"go/build"
	"slices"
	"strings"
	"testing"
)

// The pipeline's dependencies run one way (README, "The packages, in
// data-flow order"): each package here imports none of the packages listed
// against it.
func TestPipelineDependenciesRunOneWay(t *testing.T) {
	const mod = "github.com/vacunometro/vacunometro/internal/"
	rules := []struct {
		pkg    string
		forbid []string
	}{
		{"stats", []string{"route", "sink", "ingest", "realtime", "app"}},
		{"ingest", []string{"stats", "sink", "store", "realtime", "app"}},
		{"route", []string{"stats", "sink", "store", "ingest", "app"}},
		{"route/grpcroute", []string{"stats", "sink", "store", "ingest", "app"}},
		{"route/redisroute", []string{"stats", "sink", "store", "ingest", "app"}},
		{"route/pubsubroute", []string{"stats", "sink", "store", "ingest", "app"}},
		{"sink", []string{"route", "ingest", "realtime", "app"}},
		{"realtime", []string{"stats", "sink", "store", "route", "ingest", "app"}},
		{"schema", []string{"stats", "route", "sink", "store", "ingest", "realtime", "rollout", "split", "app"}},
	}
	for _, r := range rules {
		p, err := build.Default.Import(mod+r.pkg, ".", 0)
		if err != nil {
			t.Fatalf("%s: %v", r.pkg, err)
		}
		for _, imp := range p.Imports {
			name, ok := strings.CutPrefix(imp, mod)
			if !ok {
				continue
			}
			for _, f := range r.forbid {
				if name == f || strings.HasPrefix(name, f+"/") {
					t.Errorf("internal/%s imports internal/%s", r.pkg, name)
				}
			}
		}
		if r.pkg == "schema" && slices.ContainsFunc(p.Imports, func(s string) bool { return strings.HasPrefix(s, mod) }) {
			t.Errorf("internal/schema imports %v; it must import nothing of ours", p.Imports)
		}
	}
}
