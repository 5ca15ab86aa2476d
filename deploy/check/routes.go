package check

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// RouteListFile is where the one route list lives in Go: route.All and the
// constants it is made of (internal/route).
const RouteListFile = "internal/route/route.go"

// RouteNames reads the route list (route.All, in display order) from the Go
// source at root/RouteListFile, resolving the constants it names. It fails
// when the list is not a literal of string constants.
func RouteNames(root string) ([]string, error) {
	path := filepath.Join(root, RouteListFile)
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("route list: %w", err)
	}
	consts := map[string]string{}
	var list *ast.CompositeLit
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, sp := range gd.Specs {
			vs, ok := sp.(*ast.ValueSpec)
			if !ok {
				continue
			}
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				switch v := vs.Values[i].(type) {
				case *ast.BasicLit:
					if gd.Tok == token.CONST && v.Kind == token.STRING {
						consts[name.Name], _ = strconv.Unquote(v.Value)
					}
				case *ast.CompositeLit:
					if gd.Tok == token.VAR && name.Name == "All" {
						list = v
					}
				}
			}
		}
	}
	if list == nil {
		return nil, fmt.Errorf("route list: no `var All = []string{...}` in %s", RouteListFile)
	}
	var names []string
	for _, e := range list.Elts {
		switch v := e.(type) {
		case *ast.Ident:
			s, ok := consts[v.Name]
			if !ok {
				return nil, fmt.Errorf("route list: %s is not a string constant of %s", v.Name, RouteListFile)
			}
			names = append(names, s)
		case *ast.BasicLit:
			s, err := strconv.Unquote(v.Value)
			if err != nil || v.Kind != token.STRING {
				return nil, fmt.Errorf("route list: element %s is not a string", v.Value)
			}
			names = append(names, s)
		default:
			return nil, fmt.Errorf("route list: an element of route.All is not a constant")
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("route list: route.All is empty")
	}
	return names, nil
}

// The forms in which deployment files name a route.
var (
	// A split: "grpc=34,redis=33,pubsub=33" (SPLIT, _SPLIT, Terraform's
	// default), each name=weight pair.
	splitPairRe = regexp.MustCompile(`(?:^|[\s"',=:])([a-z][a-z0-9]*)=[0-9]+\b`)
	// The route label of an ingest variant.
	// shellAssignRe is a line that only sets a shell variable to a number.
	shellAssignRe = regexp.MustCompile(`^\s*[a-z_][a-z0-9_]*=[0-9]+\s*$`)
	routeLabelRe  = regexp.MustCompile(`vacunometro\.io/route:\s*["']?([A-Za-z0-9_-]*)`)
	// Workload and identity names: ingest-<route>, worker-<route>.
	workloadRe = regexp.MustCompile(`\b(ingest|worker)-([a-z0-9]+)(-?)`)
	// The dashboard's route order.
	routeOrderRe = regexp.MustCompile(`ROUTE_ORDER\s*=\s*\[([^\]]*)\]`)
)

// notRoutes are the ingest-/worker- names that are not a route's: the
// Cloud Functions ingest (functions/), deployed as ingest-fn.
var notRoutes = map[string]bool{"fn": true}

// CheckRouteText lists the route names in text (one deployment file,
// called name in the problems) that are not in routes.
func CheckRouteText(name, text string, routes []string) []string {
	var problems []string
	known := func(r string) bool { return slices.Contains(routes, r) }
	for i, line := range strings.Split(text, "\n") {
		where := fmt.Sprintf("%s:%d", name, i+1)
		for _, m := range splitPairRe.FindAllStringSubmatch(line, -1) {
			if shellAssignRe.MatchString(line) {
				break // a shell variable (status=0), not a split
			}
			if !known(m[1]) {
				problems = append(problems, fmt.Sprintf("%s: split names route %q; the routes are %v (%s)", where, m[1], routes, RouteListFile))
			}
		}
		for _, m := range routeLabelRe.FindAllStringSubmatch(line, -1) {
			if !known(m[1]) {
				problems = append(problems, fmt.Sprintf("%s: label vacunometro.io/route is %q; the routes are %v (%s)", where, m[1], routes, RouteListFile))
			}
		}
		for _, m := range workloadRe.FindAllStringSubmatch(line, -1) {
			if m[3] == "-" || notRoutes[m[2]] { // a longer name (ingest-from-cluster)
				continue
			}
			if !known(m[2]) {
				problems = append(problems, fmt.Sprintf("%s: %s-%s names route %q; the routes are %v (%s)", where, m[1], m[2], m[2], routes, RouteListFile))
			}
		}
		for _, m := range routeOrderRe.FindAllStringSubmatch(line, -1) {
			var got []string
			for _, s := range strings.Split(m[1], ",") {
				if s = strings.Trim(strings.TrimSpace(s), `'"`); s != "" {
					got = append(got, s)
				}
			}
			if !slices.Equal(got, routes) {
				problems = append(problems, fmt.Sprintf("%s: ROUTE_ORDER is %v; the route list is %v (%s)", where, got, routes, RouteListFile))
			}
		}
	}
	return problems
}

// RouteFiles are the deployment files that name routes, relative to root:
// the Kubernetes manifests (cluster/), the observability rules (deploy/,
// not this module), Terraform (infra/*.tf), Cloud Build, the Cloud
// Functions and the dashboard's route order.
func RouteFiles(root string) ([]string, error) {
	var out []string
	for _, dir := range []string{"cluster", "deploy", "infra", "functions"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				if rel == "deploy/check" || d.Name() == ".terraform" || d.Name() == "node_modules" {
					return filepath.SkipDir
				}
				return nil
			}
			switch filepath.Ext(p) {
			case ".yaml", ".yml", ".tf", ".go", ".json":
				if !strings.HasSuffix(p, "_test.go") {
					out = append(out, rel)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("route files: %w", err)
		}
	}
	return append(out, "cloudbuild.yaml", "webapp/src/lib/rollout.ts"), nil
}

// CheckRouteNames checks every file of RouteFiles against the route list.
func CheckRouteNames(root string) ([]string, error) {
	routes, err := RouteNames(root)
	if err != nil {
		return nil, err
	}
	files, err := RouteFiles(root)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, rel := range files {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return nil, fmt.Errorf("route names: %w", err)
		}
		problems = append(problems, CheckRouteText(rel, string(b), routes)...)
	}
	return problems, nil
}
