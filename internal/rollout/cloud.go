package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/vacunometro/vacunometro/internal/split"
)

// ---- Cloud Run: revision traffic by tag ----

// DefaultTags maps each route to the tag of its ingest revision on Cloud Run
// (infra/run.tf and cloudbuild.yaml: blue, green, canary).
const DefaultTags = "grpc=blue,redis=green,pubsub=canary"

// CloudRun moves the traffic of a Cloud Run service between revisions
// tagged one per route, with `gcloud run services update-traffic SERVICE
// --to-tags blue=X,green=Y,...` (one call: Cloud Run applies it whole).
type CloudRun struct {
	Service string
	Region  string
	Project string            // optional: gcloud's configured project otherwise
	Tags    map[string]string // route -> revision tag
	Run     Runner            // ExecRunner unless set
}

// NewCloudRun checks the configuration; tags is "route=tag,...".
func NewCloudRun(service, region, project, tags string) (*CloudRun, error) {
	if service == "" || region == "" {
		return nil, fmt.Errorf("cloudrun: --service and --region are required")
	}
	m, err := parseMapping(tags)
	if err != nil {
		return nil, fmt.Errorf("cloudrun --tags: %w", err)
	}
	return &CloudRun{Service: service, Region: region, Project: project, Tags: m}, nil
}

func (c *CloudRun) run(ctx context.Context, args ...string) ([]byte, error) {
	if c.Run != nil {
		return c.Run(ctx, "gcloud", args...)
	}
	return ExecRunner(ctx, "gcloud", args...)
}

func (c *CloudRun) common() []string {
	a := []string{"--region", c.Region}
	if c.Project != "" {
		a = append(a, "--project", c.Project)
	}
	return a
}

func (c *CloudRun) Describe() string {
	return fmt.Sprintf("Cloud Run service %s in %s (revision tags %s)", c.Service, c.Region, formatMapping(c.Tags))
}

func formatMapping(m map[string]string) string {
	w := split.Weights{}
	for k := range m {
		w[k] = 0
	}
	var parts []string
	for _, r := range orderedRoutes(w) {
		parts = append(parts, r+"="+m[r])
	}
	return strings.Join(parts, ",")
}

// Get reads status.traffic of `gcloud run services describe --format=json`.
func (c *CloudRun) Get(ctx context.Context) (split.Weights, error) {
	out, err := c.run(ctx, append([]string{"run", "services", "describe", c.Service, "--format=json"}, c.common()...)...)
	if err != nil {
		return nil, fmt.Errorf("read the traffic of %s: %w", c.Service, err)
	}
	var svc struct {
		Status struct {
			Traffic []struct {
				RevisionName string `json:"revisionName"`
				Percent      int    `json:"percent"`
				Tag          string `json:"tag"`
			} `json:"traffic"`
		} `json:"status"`
	}
	if err := json.Unmarshal(out, &svc); err != nil {
		return nil, fmt.Errorf("gcloud run services describe %s: %w", c.Service, err)
	}
	routeOfTag := map[string]string{}
	w := split.Weights{}
	for r, t := range c.Tags {
		routeOfTag[t] = r
		w[r] = 0
	}
	// A revision can be listed twice: once with its tag, once with its percent.
	tagOfRev := map[string]string{}
	for _, t := range svc.Status.Traffic {
		if t.Tag != "" && routeOfTag[t.Tag] != "" {
			tagOfRev[t.RevisionName] = t.Tag
		}
	}
	for _, t := range svc.Status.Traffic {
		if t.Percent == 0 {
			continue
		}
		tag := t.Tag
		if routeOfTag[tag] == "" {
			tag = tagOfRev[t.RevisionName]
		}
		r := routeOfTag[tag]
		if r == "" {
			return nil, fmt.Errorf("revision %s takes %d%% of %s but has none of the route tags (%s): tag it first (gcloud run services update-traffic %s --update-tags TAG=%s)",
				t.RevisionName, t.Percent, c.Service, formatMapping(c.Tags), c.Service, t.RevisionName)
		}
		w[r] += t.Percent
	}
	return w, nil
}

func (c *CloudRun) args(w split.Weights) []string {
	var parts []string
	for _, r := range orderedRoutes(w) {
		if tag := c.Tags[r]; tag != "" {
			parts = append(parts, fmt.Sprintf("%s=%d", tag, w[r]))
		}
	}
	a := []string{"run", "services", "update-traffic", c.Service}
	a = append(a, c.common()...)
	return append(a, "--to-tags", strings.Join(parts, ","), "--quiet")
}

func (c *CloudRun) Set(ctx context.Context, w split.Weights) error {
	if w.Total() != 100 {
		return fmt.Errorf("cloudrun: traffic must add up to 100%%, got %s", Format(w))
	}
	for r := range w {
		if c.Tags[r] == "" && w[r] > 0 {
			return fmt.Errorf("cloudrun: route %s has no revision tag (--tags)", r)
		}
	}
	if _, err := c.run(ctx, c.args(w)...); err != nil {
		return fmt.Errorf("update the traffic of %s: %w", c.Service, err)
	}
	return nil
}

func (c *CloudRun) Command(w split.Weights) string { return commandLine("gcloud", c.args(w)) }

// ---- GKE: the weighted backendRefs of an HTTPRoute or a GRPCRoute ----

// DefaultBackendRefs maps each route to its ingest Service in the cluster
// (cluster/components/traffic-split).
const DefaultBackendRefs = "grpc=ingest-grpc,redis=ingest-redis,pubsub=ingest-pubsub"

// DefaultTrackRefs maps the gRPC server's release tracks to their Services,
// the backendRefs of the GRPCRoute "grpc-server" (cluster/components/canary).
const DefaultTrackRefs = "stable=grpc-server-stable,canary=grpc-server-canary"

// Route kinds the GKE backend changes (kubectl resource names).
const (
	KindHTTPRoute = "httproute"
	KindGRPCRoute = "grpcroute"
)

// GKE moves the weights of a Gateway API route's backendRefs (an HTTPRoute
// or a GRPCRoute, read by Linkerd) with one `kubectl patch --type=json`: a
// JSON patch applies whole or not at all, and its "test" operations make it
// refuse to write when the backendRefs were reordered since they were read.
// The two kinds have the same spec.rules[].backendRefs[] (name, port, weight).
type GKE struct {
	Kind      string            // KindHTTPRoute (default) or KindGRPCRoute
	Route     string            // the route's name
	Namespace string            //
	Rule      int               // index of the rule in spec.rules
	Refs      map[string]string // route -> backendRef (Service) name
	Context   string            // kubectl --context, optional
	Run       Runner

	mu    sync.Mutex
	index map[string]int // backendRef name -> index, from the last Get
}

// NewGKE checks the configuration; kind is KindHTTPRoute or KindGRPCRoute,
// refs is "route=service,..." (or "track=service,...").
func NewGKE(kind, name, namespace, refs, kubeContext string) (*GKE, error) {
	if kind != KindHTTPRoute && kind != KindGRPCRoute {
		return nil, fmt.Errorf("gke: route kind %q: want %s or %s", kind, KindHTTPRoute, KindGRPCRoute)
	}
	if name == "" || namespace == "" {
		return nil, fmt.Errorf("gke: --httproute (or --grpcroute) and --namespace are required")
	}
	m, err := parseMapping(refs)
	if err != nil {
		return nil, fmt.Errorf("gke --backend-refs: %w", err)
	}
	if len(m) < 2 {
		return nil, fmt.Errorf("gke --backend-refs %q: want at least two name=service pairs to weigh", refs)
	}
	return &GKE{Kind: kind, Route: name, Namespace: namespace, Refs: m, Context: kubeContext}, nil
}

func (g *GKE) kind() string {
	if g.Kind == "" {
		return KindHTTPRoute
	}
	return g.Kind
}

// title is the kind as the Gateway API spells it, for messages.
func (g *GKE) title() string {
	if g.kind() == KindGRPCRoute {
		return "GRPCRoute"
	}
	return "HTTPRoute"
}

func (g *GKE) run(ctx context.Context, args ...string) ([]byte, error) {
	if g.Context != "" {
		args = append([]string{"--context", g.Context}, args...)
	}
	if g.Run != nil {
		return g.Run(ctx, "kubectl", args...)
	}
	return ExecRunner(ctx, "kubectl", args...)
}

func (g *GKE) Describe() string {
	return fmt.Sprintf("%s %s/%s (backendRefs %s)", g.title(), g.Namespace, g.Route, formatMapping(g.Refs))
}

func (g *GKE) Get(ctx context.Context) (split.Weights, error) {
	out, err := g.run(ctx, "get", g.kind(), g.Route, "-n", g.Namespace, "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("read %s %s/%s: %w", g.title(), g.Namespace, g.Route, err)
	}
	var hr struct {
		Spec struct {
			Rules []struct {
				BackendRefs []struct {
					Name   string `json:"name"`
					Weight *int   `json:"weight"`
				} `json:"backendRefs"`
			} `json:"rules"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(out, &hr); err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", g.title(), g.Namespace, g.Route, err)
	}
	if g.Rule >= len(hr.Spec.Rules) {
		return nil, fmt.Errorf("%s %s/%s has no rule %d", g.title(), g.Namespace, g.Route, g.Rule)
	}
	routeOf := map[string]string{}
	w := split.Weights{}
	for r, n := range g.Refs {
		routeOf[n] = r
	}
	index := map[string]int{}
	for i, ref := range hr.Spec.Rules[g.Rule].BackendRefs {
		weight := 1 // the Gateway API's default
		if ref.Weight != nil {
			weight = *ref.Weight
		}
		r := routeOf[ref.Name]
		if r == "" {
			if weight > 0 {
				return nil, fmt.Errorf("%s %s/%s: backendRef %s has weight %d but is none of the routes' (%s)", g.title(), g.Namespace, g.Route, ref.Name, weight, formatMapping(g.Refs))
			}
			continue
		}
		index[ref.Name] = i
		w[r] = weight
	}
	for r, n := range g.Refs {
		if _, ok := index[n]; !ok {
			return nil, fmt.Errorf("%s %s/%s has no backendRef %s (route %s)", g.title(), g.Namespace, g.Route, n, r)
		}
	}
	g.mu.Lock()
	g.index = index
	g.mu.Unlock()
	return w, nil
}

func (g *GKE) patch(w split.Weights) (string, error) {
	g.mu.Lock()
	index := g.index
	g.mu.Unlock()
	if index == nil {
		return "", fmt.Errorf("gke: read the %s before changing it", g.title())
	}
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	var ops []op
	routes := orderedRoutes(w)
	for _, r := range routes {
		name := g.Refs[r]
		i, ok := index[name]
		if !ok {
			return "", fmt.Errorf("gke: route %s has no backendRef (--backend-refs)", r)
		}
		base := fmt.Sprintf("/spec/rules/%d/backendRefs/%d", g.Rule, i)
		ops = append(ops, op{"test", base + "/name", name})
	}
	for _, r := range routes {
		base := fmt.Sprintf("/spec/rules/%d/backendRefs/%d", g.Rule, index[g.Refs[r]])
		ops = append(ops, op{"add", base + "/weight", w[r]}) // add sets a member whether or not it exists
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Op == "test" && ops[j].Op != "test" })
	b, err := json.Marshal(ops)
	return string(b), err
}

func (g *GKE) patchArgs(p string) []string {
	return []string{"patch", g.kind(), g.Route, "-n", g.Namespace, "--type=json", "-p", p}
}

func (g *GKE) Set(ctx context.Context, w split.Weights) error {
	p, err := g.patch(w)
	if err != nil {
		return err
	}
	if _, err := g.run(ctx, g.patchArgs(p)...); err != nil {
		return fmt.Errorf("patch %s %s/%s: %w", g.title(), g.Namespace, g.Route, err)
	}
	return nil
}

func (g *GKE) Command(w split.Weights) string {
	p, err := g.patch(w)
	if err != nil {
		return "# " + err.Error()
	}
	args := g.patchArgs(p)
	if g.Context != "" {
		args = append([]string{"--context", g.Context}, args...)
	}
	return commandLine("kubectl", args)
}
