package check

import (
	"slices"
	"strings"
	"testing"
)

// Every deployment file that names a route names one of the route list in
// Go (internal/route: route.All).
func TestDeploymentFilesNameKnownRoutes(t *testing.T) {
	root := repoRoot(t)
	routes, err := RouteNames(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) < 2 {
		t.Fatalf("route list read from %s: %v", RouteListFile, routes)
	}
	problems, err := CheckRouteNames(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	// The check sees the files it claims to: each form is found somewhere.
	files, _ := RouteFiles(root)
	for _, want := range []string{"cloudbuild.yaml", "webapp/src/lib/rollout.ts", "infra/variables.tf", "cluster/components/traffic-split/ingest.yaml"} {
		if !slices.Contains(files, want) {
			t.Errorf("route files leave out %s", want)
		}
	}
}

// A misspelled or unknown route name in any of the forms fails; the
// current forms pass.
func TestRouteCheckCatchesUnknownNames(t *testing.T) {
	routes := []string{"grpc", "redis", "pubsub"}
	cases := []struct {
		name, text string
		bad        string // what the problem names; "" for none
	}{
		{"cloudbuild split", "  _SPLIT: grpc=34,redis=33,pubsub=33", ""},
		{"cloudbuild split misspelled", "  _SPLIT: grpc=34,reddis=33,pubsub=33", "reddis"},
		{"env split", `              value: "pubsub=100"`, ""},
		{"env split unknown", `              value: "kafka=100"`, "kafka"},
		{"terraform default", `  default     = "grpc=34,redis=33,pubsub=33"`, ""},
		{"terraform default misspelled", `  default     = "grpc=34,redis=33,pubsup=33"`, "pubsup"},
		{"route label", "    vacunometro.io/route: redis", ""},
		{"route label misspelled", "    vacunometro.io/route: Redis", "Redis"},
		{"workload", "  name: worker-pubsub", ""},
		{"workload misspelled", "  name: ingest-grcp", "grcp"},
		{"iam member misspelled", `  member = "${local.wif_prefix}/worker-pubsb"`, "pubsb"},
		{"a longer name", "  name: ingest-from-cluster", ""},
		{"the functions ingest", "gcloud run deploy ingest-fn --source .", ""},
		{"dashboard order", "export const ROUTE_ORDER = ['grpc', 'redis', 'pubsub'] as const", ""},
		{"dashboard order wrong", "export const ROUTE_ORDER = ['grpc', 'pubsub', 'redis'] as const", "ROUTE_ORDER"},
		{"dashboard order misspelled", "export const ROUTE_ORDER = ['grpc', 'redis', 'pub-sub'] as const", "pub-sub"},
		{"not a route", "  replicas: 3\n  --max-instances=10", ""},
		{"a shell variable", "        status=0", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckRouteText("f.yaml", tc.text, routes)
			switch {
			case tc.bad == "" && len(got) > 0:
				t.Errorf("problems %q, want none", got)
			case tc.bad != "" && (len(got) != 1 || !strings.Contains(got[0], tc.bad)):
				t.Errorf("problems %q, want one naming %q", got, tc.bad)
			}
		})
	}
}

// The real cloudbuild.yaml with one route misspelled fails.
func TestRouteCheckFailsOnTheRealFileMisspelled(t *testing.T) {
	routes, err := RouteNames(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	src := readRepoFile(t, "cloudbuild.yaml")
	if p := CheckRouteText("cloudbuild.yaml", src, routes); len(p) > 0 {
		t.Fatalf("the real file fails: %q", p)
	}
	bad := strings.Replace(src, "pubsub=33", "pubsb=33", 1)
	if bad == src {
		t.Fatal("cloudbuild.yaml has no pubsub=33 to misspell")
	}
	if p := CheckRouteText("cloudbuild.yaml", bad, routes); len(p) != 1 || !strings.Contains(p[0], "pubsb") {
		t.Errorf("misspelled cloudbuild.yaml: problems %q, want one naming pubsb", p)
	}
}
