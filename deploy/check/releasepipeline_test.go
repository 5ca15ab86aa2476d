package check

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// canaryDeployments are the canary Deployments the prod overlay renders.
func canaryDeployments(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, o := range rendered(t, "prod") {
		if d, ok := o.Obj.(*appsv1.Deployment); ok && d.Spec.Template.Labels[TrackLabel] == "canary" {
			out = append(out, d.Name)
		}
	}
	if len(out) == 0 {
		t.Fatal("prod renders no canary Deployment")
	}
	return out
}

func TestCloudBuildGKEReleaseIsJudged(t *testing.T) {
	b := loadCloudBuild(t)
	for _, v := range CheckGKERelease(b, canaryDeployments(t)) {
		t.Error(v)
	}
	// Promotion: the stable Deployments get the image only in gke-apply, which waits for the judgement.
	apply, _ := stepScript(b, StepGKEApply)
	for _, d := range []string{"grpc-server", "worker-redis", "worker-pubsub"} {
		if !slices.Contains(setImageTargets(apply), d) {
			t.Errorf("gke-apply does not set the image of %s before the apply", d)
		}
	}
	if i, j := strings.Index(apply, "set image"), strings.Index(apply, "kubectl apply -k"); i < 0 || j < 0 || i > j {
		t.Errorf("gke-apply: set image at %d, apply at %d: stable must be on the judged image before the apply moves the route back to it", i, j)
	}
}

// The pipeline before: gke-apply gave every Deployment the new image right after the push.
func TestGKEReleaseCheckCatchesTheOldForm(t *testing.T) {
	canaries := []string{"grpc-server-canary", "worker-redis-canary", "worker-pubsub-canary"}
	old := `steps:
  - id: push
    name: gcr.io/cloud-builders/docker:24.0.9
    args: ["push", "x"]
  - id: gke-apply
    name: gcr.io/google.com/cloudsdktool/google-cloud-cli:573.0.0
    entrypoint: bash
    waitFor: ["push"]
    args: ["-ceu", "kubectl apply -k /workspace/.deploy-prod"]
  - id: deploy-ingest
    name: gcr.io/google.com/cloudsdktool/google-cloud-cli:573.0.0-stable
    waitFor: ["gke-apply"]
    args: ["run", "deploy", "ingest"]
`
	b, err := ParseCloudBuild([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if v := CheckGKERelease(b, canaries); !containsSubstring(v, "no step gke-canary") || !containsSubstring(v, "no step gke-rollout") {
		t.Errorf("the old pipeline passes: %q", v)
	}

	good := loadCloudBuild(t)
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "cloudbuild.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, from, to, want string }{
		{"the canary step sets the stable image", `canaries="grpc-server-canary worker-redis-canary worker-pubsub-canary"`, `canaries="grpc-server worker-redis-canary worker-pubsub-canary"`, "sets the image of grpc-server, which is not a canary"},
		{"a canary left out", `canaries="grpc-server-canary worker-redis-canary worker-pubsub-canary"`, `canaries="grpc-server-canary worker-redis-canary"`, "does not give the canary worker-pubsub-canary"},
		{"the rollout only prints", "rollout --backend gke --apply --by track", "rollout --backend gke --by track", "with --apply"},
		{"judged by route, not track", "--by track --to canary", "--to grpc", "with --by track"},
		{"no route reset on failure", `{"op":"replace","path":"/spec/rules/0/backendRefs/1/weight","value":0}`, `{"op":"replace","path":"/spec/rules/0/backendRefs/1/weight","value":5}`, "back to canary 0"},
		{"canaries left running on failure", `          for d in grpc-server-canary worker-redis-canary worker-pubsub-canary; do
            kubectl -n vacunometro scale "deployment/$$d" --replicas=0`, `          for d in grpc-server-canary worker-redis-canary; do
            kubectl -n vacunometro scale "deployment/$$d" --replicas=0`, "does not scale the canary worker-pubsub-canary to 0"},
		{"promotion before the judgement", `    waitFor: ["gke-rollout"]`, `    waitFor: ["gke-canary"]`, "step gke-apply does not wait for gke-rollout"},
	}
	if v := CheckGKERelease(good, canaries); len(v) != 0 {
		t.Fatalf("cloudbuild.yaml: %q", v)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(string(src), c.from, c.to, 1)
			if bad == string(src) {
				t.Fatalf("case did not change cloudbuild.yaml (%q not found)", c.from)
			}
			b, err := ParseCloudBuild([]byte(bad))
			if err != nil {
				t.Fatal(err)
			}
			if v := CheckGKERelease(b, canaries); !containsSubstring(v, c.want) {
				t.Errorf("problems %q do not mention %q", v, c.want)
			}
		})
	}
}

// runGKEStep runs a GKE step's script as Cloud Build would (substitutions applied, in a workspace
// of its own) with stub gcloud and kubectl that log their arguments, and a stub .bin/vacunometro
// that exits with rolloutExit. kubectlGet is what `kubectl get ... -o name` prints.
func runGKEStep(t *testing.T, id, phase, kubectlGet string, rolloutExit int) (kubectl []string, ws string, err error) {
	t.Helper()
	b := loadCloudBuild(t)
	script, ok := stepScript(b, id)
	if !ok {
		t.Fatalf("step %s is not a bash -c script", id)
	}
	bin := t.TempDir()
	ws = t.TempDir()
	logf := filepath.Join(bin, "kubectl.log")
	stubs := map[string]string{
		"gcloud":  "#!/bin/sh\n[ \"$1 $2\" = \"auth print-access-token\" ] && echo test-token\nexit 0\n",
		"kubectl": "#!/bin/sh\necho \"$*\" >> " + logf + "\ncase \"$*\" in *' get '*) printf '%s' \"$KUBECTL_GET\";; esac\nexit 0\n",
	}
	for name, s := range stubs {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(ws, ".bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	rollout := "#!/bin/sh\necho \"vacunometro $*\" >> " + logf + "\n[ -s .deploy-prod/prometheus-token ] || { echo no token; exit 2; }\nexit " + itoa(rolloutExit) + "\n"
	if err := os.WriteFile(filepath.Join(ws, ".bin", "vacunometro"), []byte(rollout), 0o755); err != nil {
		t.Fatal(err)
	}
	if phase != "" {
		_ = os.MkdirAll(filepath.Join(ws, ".deploy-prod"), 0o755)
		if err := os.WriteFile(filepath.Join(ws, ".deploy-prod", "phase"), []byte(phase+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "KUBECTL_GET="+kubectlGet)
	cmd.Dir = ws
	out, err := cmd.CombinedOutput()
	t.Logf("%s: %s", id, strings.TrimSpace(string(out)))
	raw, _ := os.ReadFile(logf)
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if l != "" {
			kubectl = append(kubectl, l)
		}
	}
	return kubectl, ws, err
}

func grep(lines []string, pattern string) []string {
	re := regexp.MustCompile(pattern)
	var out []string
	for _, l := range lines {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

func TestGKEReleaseStepsRun(t *testing.T) {
	canaries := canaryDeployments(t)
	t.Run("canary: only the canaries get the image and a replica", func(t *testing.T) {
		calls, ws, err := runGKEStep(t, StepGKECanary, "", "deployment.apps/grpc-server-canary\ngrpcroute.gateway.networking.k8s.io/grpc-server\n", 0)
		if err != nil {
			t.Fatal(err)
		}
		sets := grep(calls, `set image`)
		if len(sets) != len(canaries) {
			t.Errorf("set image calls %q, want one per canary %v", sets, canaries)
		}
		for _, c := range canaries {
			if len(grep(sets, `deployment/`+c+` \*=.+:`)) != 1 || len(grep(calls, `scale deployment/`+c+` --replicas=1`)) != 1 {
				t.Errorf("canary %s: calls %q", c, calls)
			}
		}
		if p, _ := os.ReadFile(filepath.Join(ws, ".deploy-prod", "phase")); strings.TrimSpace(string(p)) != "judged" {
			t.Errorf("phase %q, want judged", p)
		}
	})
	t.Run("canary: the first release of the layout is not judged", func(t *testing.T) {
		calls, ws, err := runGKEStep(t, StepGKECanary, "", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if s := grep(calls, `set image|scale`); len(s) != 0 {
			t.Errorf("changed the cluster: %q", s)
		}
		if p, _ := os.ReadFile(filepath.Join(ws, ".deploy-prod", "phase")); strings.TrimSpace(string(p)) != "first" {
			t.Errorf("phase %q, want first", p)
		}
	})
	t.Run("rollout promoted: nothing else changes", func(t *testing.T) {
		calls, ws, err := runGKEStep(t, StepGKERollout, "judged", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(grep(calls, `^vacunometro rollout --backend gke --apply --by track --to canary --grpcroute grpc-server`)) != 1 {
			t.Errorf("calls %q", calls)
		}
		if s := grep(calls, `patch|scale`); len(s) != 0 {
			t.Errorf("a promoted canary was touched: %q", s)
		}
		if _, err := os.Stat(filepath.Join(ws, ".deploy-prod", "prometheus-token")); !os.IsNotExist(err) {
			t.Errorf("the access token was left in the workspace: %v", err)
		}
	})
	t.Run("rollout rolled back: route to stable, canaries to 0, build fails", func(t *testing.T) {
		calls, _, err := runGKEStep(t, StepGKERollout, "judged", "", 1)
		if err == nil {
			t.Fatal("the step succeeded after a rollback: the stable tier would be promoted")
		}
		patch := grep(calls, `^-n vacunometro patch grpcroute grpc-server --type=json`)
		if len(patch) != 1 || !strings.Contains(patch[0], `"path":"/spec/rules/0/backendRefs/0/weight","value":100`) {
			t.Errorf("route reset %q", patch)
		}
		for _, c := range canaries {
			if len(grep(calls, `scale deployment/`+c+` --replicas=0`)) != 1 {
				t.Errorf("canary %s not scaled to 0: %q", c, calls)
			}
		}
	})
	t.Run("rollout: nothing to judge on a first release", func(t *testing.T) {
		calls, _, err := runGKEStep(t, StepGKERollout, "first", "", 1)
		if err != nil || len(calls) != 0 {
			t.Errorf("err %v, calls %q", err, calls)
		}
	})
}

// The command line gke-rollout gives the binary is one the binary built like the Dockerfile
// accepts: run without --apply against a stub kubectl holding the rendered GRPCRoute, it prints
// the plan from stable 100 / canary 0.
func TestGKERolloutCommandLineIsAccepted(t *testing.T) {
	bin := buildLikeDockerfile(t)
	script, ok := stepScript(loadCloudBuild(t), StepGKERollout)
	if !ok {
		t.Fatal("no gke-rollout script")
	}
	joined := strings.ReplaceAll(script, "\\\n", " ")
	var line string
	for _, l := range strings.Split(joined, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), ".bin/vacunometro rollout") {
			line, _, _ = strings.Cut(strings.TrimSpace(l), " || ")
		}
	}
	words, err := ShellWords(line)
	if err != nil || len(words) < 3 {
		t.Fatalf("the rollout command %q: %v", line, err)
	}
	args := slices.DeleteFunc(slices.Clone(words[1:]), func(a string) bool { return a == "--apply" })

	var routeJSON string
	for _, o := range rendered(t, "prod") {
		if o.GVK.Kind == "GRPCRoute" && strings.HasSuffix(o.Name, "/grpc-server") {
			j, err := yaml.YAMLToJSON(o.Raw)
			if err != nil {
				t.Fatal(err)
			}
			routeJSON = string(j)
		}
	}
	if routeJSON == "" {
		t.Fatal("prod renders no GRPCRoute grpc-server")
	}
	stubs, ws := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(stubs, "route.json"), []byte(routeJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	stub := "#!/bin/sh\ncase \"$*\" in 'get grpcroute grpc-server -n vacunometro -o json') cat " + filepath.Join(stubs, "route.json") + ";; *) echo \"unexpected: $*\" >&2; exit 1;; esac\n"
	if err := os.WriteFile(filepath.Join(stubs, "kubectl"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll(filepath.Join(ws, ".deploy-prod"), 0o755)
	if err := os.WriteFile(filepath.Join(ws, ".deploy-prod", "prometheus-token"), []byte("test-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = ws
	cmd.Env = []string{"PATH=" + stubs + ":/usr/bin:/bin", "HOME=" + ws}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	for _, want := range []string{"plan for canary on GRPCRoute vacunometro/grpc-server", "from canary=0,stable=100", "step 1/3: canary 10%: canary=10,stable=90", "kubectl patch grpcroute grpc-server -n vacunometro --type=json"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
