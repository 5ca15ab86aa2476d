package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDockerfileIsWellFormed(t *testing.T) {
	src := readRepoFile(t, "Dockerfile")
	goVersion := GoDirective(readRepoFile(t, "go.mod"))
	if goVersion == "" {
		t.Fatal("go.mod has no go directive")
	}
	for _, p := range CheckDockerfile(src, goVersion) {
		t.Error(p)
	}
	stages, err := ParseDockerfile(src)
	if err != nil {
		t.Fatal(err)
	}
	final := stages[len(stages)-1]
	workdir, web := "", false
	for _, in := range final.Insts {
		if in.Cmd == "WORKDIR" {
			workdir = in.Args
		}
		if in.Cmd == "COPY" && strings.HasSuffix(in.Args, " /app/webapp/dist") {
			web = true
		}
	}
	// The binary's default --web is webapp/dist, relative to the working directory.
	if workdir != "/app" || !web {
		t.Errorf("final stage: WORKDIR %q and dashboard copied to /app/webapp/dist: %v", workdir, web)
	}
	bc, err := LoadBuildContext(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	// What the stages COPY must be in the context; local state and secrets must not.
	for _, in := range []string{"go.mod", "go.sum", "cmd/vacunometro/main.go", "internal/catalog/catalog.go", "webapp/package.json", "webapp/package-lock.json", "webapp/src/main.tsx", "webapp/index.html"} {
		if !bc.Includes(in) {
			t.Errorf("the build context leaves out %s", in)
		}
	}
	for _, out := range []string{".git/config", "webapp/node_modules/react/index.js", "infra/terraform.tfvars", "infra/.terraform/providers/x", "infra/terraform.tfstate", "bin/vacunometro", ".env", "cluster/overlays/prod/project.env"} {
		if bc.Includes(out) {
			t.Errorf("the build context includes %s", out)
		}
	}
}

func TestBuildContextFollowsDockerignore(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		".dockerignore":        "cmd\n**/*.secret\n!keep.secret\n",
		"cmd/vacunometro/a.go": "package main\n",
		"internal/x/x.go":      "package x\n",
		"internal/x/k.secret":  "s",
		"keep.secret":          "s",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bc, err := LoadBuildContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	n, err := bc.CopyTo(dst)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"cmd/vacunometro/a.go": false, "internal/x/x.go": true, "internal/x/k.secret": false, "keep.secret": true, ".dockerignore": true} {
		_, err := os.Stat(filepath.Join(dst, filepath.FromSlash(name)))
		if got := err == nil; got != want {
			t.Errorf("%s copied=%v, want %v", name, got, want)
		}
	}
	if n != 3 {
		t.Errorf("copied %d files, want 3", n)
	}
}

func TestDockerfileCheckerCatchesBadInput(t *testing.T) {
	good := `FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -tags noembed \
    -ldflags="-s -w -X github.com/vacunometro/vacunometro/internal/app.Version=${VERSION}" -o /out/app ./cmd/vacunometro
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="vacunometro" org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/app /app
USER nonroot:nonroot
ENTRYPOINT ["/app"]
`
	if p := CheckDockerfile(good, "1.26.0"); len(p) != 0 {
		t.Fatalf("the good Dockerfile has problems: %v", p)
	}
	cases := []struct{ name, from, to, goVersion, want string }{
		{"cgo", "CGO_ENABLED=0 ", "", "", "CGO_ENABLED=0"},
		{"no trimpath", "-trimpath ", "", "", "-trimpath"},
		{"no strip", `-ldflags="-s -w -X`, `-ldflags="-X`, "", `-s -w`},
		{"embedded services in the image (the old form)", "-tags noembed ", "", "", "without -tags noembed"},
		{"no version stamp (the old form)", ` -X github.com/vacunometro/vacunometro/internal/app.Version=${VERSION}"`, `"`, "", "does not stamp the version"},
		{"no OCI labels (the old form)", "LABEL org.opencontainers.image.title=\"vacunometro\" org.opencontainers.image.version=\"${VERSION}\"\n", "", "", "no LABEL org.opencontainers.image.title"},
		{"other package", "./cmd/vacunometro", "./cmd/other", "", "want ./cmd/vacunometro"},
		{"latest base", "golang:1.26-bookworm", "golang:latest", "", "uses the tag latest"},
		{"untagged base", "golang:1.26-bookworm", "golang", "", "no tag or digest"},
		{"old toolchain", "golang:1.26-bookworm", "golang:1.25-bookworm", "1.26.0", "go.mod needs go 1.26.0"},
		{"not distroless", "gcr.io/distroless/static-debian12:nonroot", "debian:12-slim", "", "want distroless static"},
		{"root user", "USER nonroot:nonroot", "USER root", "", "want nonroot"},
		{"entrypoint elsewhere", `ENTRYPOINT ["/app"]`, `ENTRYPOINT ["/bin/app"]`, "", "is not the binary go build writes"},
		{"shell entrypoint", `ENTRYPOINT ["/app"]`, `ENTRYPOINT /app`, "", "exec form"},
		{"no go build", "RUN CGO_ENABLED=0 go build", "RUN CGO_ENABLED=0 go vet", "", "go build 0 times"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(good, c.from, c.to, 1)
			if bad == good {
				t.Fatalf("%q not found", c.from)
			}
			if p := CheckDockerfile(bad, c.goVersion); !containsSubstring(p, c.want) {
				t.Errorf("problems %q do not mention %q", p, c.want)
			}
		})
	}
}

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

var (
	imageBin builtBinary // exactly the Dockerfile's build: -tags noembed, no embedded services
	upBin    builtBinary // the same without the noembed tag: what `vacunometro up` needs locally
)

// buildLikeDockerfile builds ./cmd/vacunometro with exactly the Dockerfile's go build environment
// and flags into a temporary directory, once per test run.
func buildLikeDockerfile(t *testing.T) string { return buildBinary(t, &imageBin, false) }

// buildForUp builds like the Dockerfile but keeps the embedded services (no -tags noembed), for
// the tests that run `vacunometro up` with nothing configured.
func buildForUp(t *testing.T) string { return buildBinary(t, &upBin, true) }

func buildBinary(t *testing.T, bb *builtBinary, dropNoembed bool) string {
	t.Helper()
	root := repoRoot(t)
	binOnce, binErr, binPath := &bb.once, &bb.err, &bb.path
	binOnce.Do(func() {
		mains, _ := filepath.Glob(filepath.Join(root, "cmd", "vacunometro", "*.go"))
		hasMain := false
		for _, m := range mains {
			b, err := os.ReadFile(m)
			if err == nil && regexp.MustCompile(`(?m)^package main\b`).Match(b) {
				hasMain = true
			}
		}
		if !hasMain {
			*binErr = errors.New("cmd/vacunometro has no main package: the Dockerfile's go build cannot work")
			return
		}
		stages, err := ParseDockerfile(readRepoFile(t, "Dockerfile"))
		if err != nil {
			*binErr = err
			return
		}
		gb, err := FindGoBuild(stages)
		if err != nil {
			*binErr = err
			return
		}
		dir, err := os.MkdirTemp("", "vacunometro-dockerfile-build-")
		if err != nil {
			*binErr = err
			return
		}
		// Build from what `docker build .` would send (after .dockerignore), as COPY . . does.
		bc, err := LoadBuildContext(root)
		if err != nil {
			*binErr = err
			return
		}
		src := filepath.Join(dir, "src")
		files, err := bc.CopyTo(src)
		if err != nil {
			*binErr = err
			return
		}
		*binPath = filepath.Join(dir, filepath.Base(gb.Output))
		args := []string{"build"}
		for i := 0; i < len(gb.Flags); i++ {
			f := gb.Flags[i]
			if dropNoembed && (f == "-tags" || strings.HasPrefix(f, "-tags=")) {
				if f == "-tags" {
					i++
				}
				continue
			}
			// The Dockerfile's ARG VERSION, as Cloud Build passes it.
			args = append(args, strings.ReplaceAll(f, "${VERSION}", "deploy-check"))
		}
		args = append(args, "-o", *binPath, gb.Package)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = src
		cmd.Env = os.Environ()
		for k, v := range gb.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			*binErr = fmt.Errorf("go %s (env %v): %w\n%s", strings.Join(args, " "), gb.Env, err, out)
			return
		}
		t.Logf("built %s like the Dockerfile (go %s, env %v) from the %d files of the build context in %s", *binPath, strings.Join(args, " "), gb.Env, files, time.Since(start).Round(time.Second))
	})
	if *binErr != nil {
		t.Fatal(*binErr)
	}
	return *binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, b := range []*builtBinary{&imageBin, &upBin} {
		if b.path != "" {
			os.RemoveAll(filepath.Dir(b.path))
		}
	}
	os.Exit(code)
}

// runHelp runs the binary with args and returns its output; exit status 0 or 2 (the flag package's
// status for -help) is success.
func runHelp(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "PORT=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.String(), fmt.Errorf("%v still running after 20s (does it ignore --help?)", args)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 2 {
		err = nil
	}
	return out.String(), err
}

// The Dockerfile's build command builds a binary that starts, and every command line the
// deployment gives it (kustomize overlays, Terraform, cloudbuild.yaml) is one it accepts.
func TestDockerfileBinaryRunsTheDeployedCommands(t *testing.T) {
	bin := buildLikeDockerfile(t)
	out, err := runHelp(t, bin, "--help")
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", bin, err, out)
	}
	for _, sub := range []string{"ingest", "realtime", "grpc-server", "worker"} {
		if !strings.Contains(out, sub) {
			t.Errorf("--help does not mention the subcommand %s:\n%s", sub, out)
		}
	}
	for _, args := range deployedCommands(t) {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, err := runHelp(t, bin, append(args, "--help")...)
			if err != nil {
				t.Fatalf("%v --help: %v\n%s", args, err, out)
			}
			for _, bad := range []string{"flag provided but not defined", "unknown command", "unknown subcommand"} {
				if strings.Contains(strings.ToLower(out), bad) {
					t.Errorf("%v --help: %s", args, out)
				}
			}
		})
	}
}

// deployedCommands collects the container args of every vacunometro container in the overlays,
// of the Cloud Run services in Terraform and of the gcloud run deploy steps.
func deployedCommands(t *testing.T) [][]string {
	t.Helper()
	seen := map[string][]string{}
	for _, overlay := range overlays {
		for _, w := range Workloads(rendered(t, overlay)) {
			for _, c := range w.Template.Spec.Containers {
				if strings.Contains(c.Image, "vacunometro") && len(c.Args) > 0 {
					seen[strings.Join(c.Args, " ")] = c.Args
				}
			}
		}
	}
	tf := loadInfra(t)
	for _, b := range tf.Blocks("resource") {
		if b.Labels[0] != "google_cloud_run_v2_service" {
			continue
		}
		for _, tb := range b.Body.Blocks {
			if tb.Type != "template" {
				continue
			}
			for _, cb := range tb.Body.Blocks {
				if a := cb.Body.Attributes["args"]; cb.Type == "containers" && a != nil {
					v, d := a.Expr.Value(nil)
					if d.HasErrors() {
						t.Fatalf("%s args: %s", b.Labels[1], d.Error())
					}
					var args []string
					for _, e := range v.AsValueSlice() {
						args = append(args, e.AsString())
					}
					seen[strings.Join(args, " ")] = args
				}
			}
		}
	}
	for _, s := range loadCloudBuild(t).GetSteps() {
		for _, a := range s.GetArgs() {
			if v, ok := strings.CutPrefix(a, "--args="); ok {
				args := strings.Split(v, ",")
				seen[strings.Join(args, " ")] = args
			}
		}
	}
	var out [][]string
	for _, k := range sortedKeys(seen) {
		out = append(out, seen[k])
	}
	if len(out) < 5 {
		t.Fatalf("only %d deployed command lines found: %v", len(out), out)
	}
	return out
}

// The production image links none of the embedded test services, and its `up` says so instead
// of starting them.
func TestDockerfileBinaryHasNoEmbeddedServices(t *testing.T) {
	stages, err := ParseDockerfile(readRepoFile(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	gb, err := FindGoBuild(stages)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"list", "-deps"}
	for i, f := range gb.Flags {
		if f == "-tags" && i+1 < len(gb.Flags) {
			args = append(args, "-tags", gb.Flags[i+1])
		} else if strings.HasPrefix(f, "-tags=") {
			args = append(args, f)
		}
	}
	list := func(args ...string) string {
		cmd := exec.Command("go", append(args, gb.Package)...)
		cmd.Dir = repoRoot(t)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go %v: %v", args, err)
		}
		return string(out)
	}
	embeddedPkgs := regexp.MustCompile(`(?m)^(github.com/FerretDB/FerretDB|github.com/alicebob/miniredis|cloud.google.com/go/pubsub/v2/pstest)\S*$`)
	if m := embeddedPkgs.FindAllString(list(args...), -1); len(m) != 0 {
		t.Errorf("the image's binary links %v", m)
	}
	if m := embeddedPkgs.FindAllString(list("list", "-deps"), -1); len(m) == 0 {
		t.Error("the default build links no embedded service: the check proves nothing")
	}
}
