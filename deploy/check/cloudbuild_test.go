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

	"cloud.google.com/go/cloudbuild/apiv1/v2/cloudbuildpb"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func loadCloudBuild(t *testing.T) *cloudbuildpb.Build {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "cloudbuild.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseCloudBuild(src)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func step(t *testing.T, b *cloudbuildpb.Build, id string) *cloudbuildpb.BuildStep {
	t.Helper()
	s, ok := StepByID(b, id)
	if !ok {
		t.Fatalf("cloudbuild.yaml has no step %q", id)
	}
	return s
}

func TestCloudBuildDecodesStrictlyAndStepsAreWellFormed(t *testing.T) {
	b := loadCloudBuild(t)
	for _, p := range CheckCloudBuild(b, repoRoot(t)) {
		t.Error(p)
	}
	t.Logf("%d steps, substitutions %v", len(b.GetSteps()), SortedSubstitutionNames(b))
}

// test -> build -> push -> GKE -> tagged revisions with no traffic -> smoke -> Locust -> 10 -> 50 -> 100.
func TestCloudBuildPipelineOrder(t *testing.T) {
	b := loadCloudBuild(t)
	order := [][2]string{
		{"test", "push"}, {"build", "push"}, {"push", "gke-apply"}, {"gke-apply", "deploy-ingest"},
		{"gke-apply", "deploy-realtime"}, {"deploy-ingest", "smoke"}, {"deploy-realtime", "smoke"},
		{"smoke", "locust"}, {"locust", "traffic-10"}, {"traffic-10", "verify-10"}, {"verify-10", "traffic-50"},
		{"traffic-50", "verify-50"}, {"verify-50", "traffic-100"}, {"traffic-100", "verify-100"},
	}
	for _, o := range order {
		step(t, b, o[0])
		step(t, b, o[1])
		if !StepOrder(b, o[0], o[1]) {
			t.Errorf("step %s does not wait for %s", o[1], o[0])
		}
	}
	subs := Substitutions(b, nil)
	built := ""
	bs := step(t, b, "build")
	for i, a := range bs.GetArgs() {
		if a == "-t" && i+1 < len(bs.GetArgs()) {
			built = Expand(bs.GetArgs()[i+1], subs)
		}
	}
	pushed := Expand(step(t, b, "push").GetArgs()[1], subs)
	if built == "" || built != pushed {
		t.Errorf("build tags %q, push pushes %q", built, pushed)
	}
	tf := loadInfra(t)
	for _, svc := range []string{"ingest", "realtime"} {
		s := step(t, b, "deploy-"+svc)
		args := s.GetArgs()
		if len(args) < 3 || args[0] != "run" || args[1] != "deploy" || args[2] != svc {
			t.Errorf("deploy-%s runs gcloud %v", svc, args)
		}
		for _, want := range []string{"--no-traffic", "--tag=" + subs["_TAG"], "--image=" + pushed} {
			got := false
			for _, a := range args {
				got = got || Expand(a, subs) == want
			}
			if !got {
				t.Errorf("deploy-%s lacks %s: %v", svc, want, args)
			}
		}
		if _, ok := tf.Resource("google_cloud_run_v2_service", svc); !ok {
			t.Errorf("deploy-%s deploys a service Terraform does not create", svc)
		}
	}
}

// runScript runs a bash step's script with the build's substitutions (plus overrides), with stub
// gcloud and sleep commands that log their arguments; it returns the exit error and the log.
func runScript(t *testing.T, b *cloudbuildpb.Build, id string, overrides map[string]string) (error, string) {
	t.Helper()
	s := step(t, b, id)
	subs := Substitutions(b, overrides)
	var args []string
	for _, a := range s.GetArgs() {
		args = append(args, Expand(a, subs))
	}
	script, ok := shellScript(args)
	if !ok {
		t.Fatalf("step %s is not a bash -c script", id)
	}
	bin := t.TempDir()
	logf := filepath.Join(bin, "calls.log")
	for _, name := range []string{"gcloud", "sleep"} {
		stub := "#!/bin/sh\necho \"" + name + " $*\" >> " + logf + "\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	calls, _ := os.ReadFile(logf)
	t.Logf("%s with %v: %s", id, overrides, strings.TrimSpace(string(out)))
	return err, string(calls)
}

// _STOP_AT_PERCENT stops the rollout at each step: run the traffic steps' scripts as Cloud Build
// would (substitutions applied), with a gcloud stub that records the calls.
func TestCloudBuildStopAtPercent(t *testing.T) {
	b := loadCloudBuild(t)
	for _, stop := range []string{"0", "10", "50", "100"} {
		t.Run("stop at "+stop, func(t *testing.T) {
			var moves []string
			for _, id := range []string{"traffic-10", "traffic-50", "traffic-100"} {
				err, calls := runScript(t, b, id, map[string]string{"_STOP_AT_PERCENT": stop, "_TAG": "green"})
				if err != nil {
					t.Fatalf("%s failed: %v", id, err)
				}
				for _, line := range strings.Split(strings.TrimSpace(calls), "\n") {
					if m := regexp.MustCompile(`^gcloud run services update-traffic (\S+) .*--to-tags=green=(\d+)`).FindStringSubmatch(line); m != nil {
						moves = append(moves, m[1]+"="+m[2])
					}
				}
			}
			want := map[string][]string{
				"0":   nil,
				"10":  {"ingest=10", "realtime=10"},
				"50":  {"ingest=10", "realtime=10", "ingest=50", "realtime=50"},
				"100": {"ingest=10", "realtime=10", "ingest=50", "realtime=50", "ingest=100", "realtime=100"},
			}[stop]
			if !slices.Equal(moves, want) {
				t.Errorf("traffic moves %v, want %v", moves, want)
			}
		})
	}
}

func TestCloudBuildRejectsBadParameters(t *testing.T) {
	b := loadCloudBuild(t)
	for _, c := range []struct {
		subs map[string]string
		ok   bool
	}{
		{map[string]string{}, true},
		{map[string]string{"_STOP_AT_PERCENT": "50", "_TAG": "blue", "_VERSION": "1a2b3c4d"}, true},
		{map[string]string{"_STOP_AT_PERCENT": "30"}, false},
		{map[string]string{"_STOP_AT_PERCENT": "ten"}, false},
		{map[string]string{"_TAG": "Canary"}, false},
		{map[string]string{"_TAG": "1st"}, false},
		{map[string]string{"_VERSION": "v1.2.3"}, false},
	} {
		err, _ := runScript(t, b, "check-params", c.subs)
		if (err == nil) != c.ok {
			t.Errorf("check-params with %v: error %v, want ok=%v", c.subs, err, c.ok)
		}
	}
}

// The GKE step writes an overlay over cluster/overlays/prod that sets the new image and the project:
// render exactly that overlay (taken from the step's script) and check the result.
func TestCloudBuildGKEOverlayRenders(t *testing.T) {
	b := loadCloudBuild(t)
	subs := Substitutions(b, nil)
	var args []string
	for _, a := range step(t, b, "gke-apply").GetArgs() {
		args = append(args, Expand(a, subs))
	}
	script, ok := shellScript(args)
	if !ok {
		t.Fatal("gke-apply is not a bash -c script")
	}
	m := regexp.MustCompile(`(?s)cat > /workspace/\.deploy-prod/kustomization\.yaml <<EOF\n(.*?)\nEOF\n`).FindStringSubmatch(script)
	if m == nil {
		t.Fatal("gke-apply does not write /workspace/.deploy-prod/kustomization.yaml with a heredoc")
	}
	root := repoRoot(t)
	dir, err := os.MkdirTemp(root, ".deploy-check-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(Expand(m[1], subs)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := Render(dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, errs := decoder(t).DecodeAll(out)
	for _, err := range errs {
		t.Error(err)
	}
	wantImage := subs["_IMAGE"] + ":" + subs["_VERSION"]
	n := 0
	for _, w := range Workloads(objs) {
		for _, c := range w.Template.Spec.Containers {
			n++
			if c.Image != wantImage {
				t.Errorf("%s: image %s, want %s", w.Name, c.Image, wantImage)
			}
		}
	}
	if n < 6 {
		t.Errorf("only %d containers", n)
	}
	cms := 0
	for _, o := range objs {
		if cm, ok := o.Obj.(*corev1.ConfigMap); ok && strings.HasPrefix(cm.Name, "vacunometro-config") {
			cms++
			if got := cm.Data["PUBSUB_PROJECT"]; got != subs["PROJECT_ID"] {
				t.Errorf("PUBSUB_PROJECT %q, want %q", got, subs["PROJECT_ID"])
			}
		}
	}
	if cms != 1 {
		t.Errorf("%d vacunometro-config ConfigMaps, want 1", cms)
	}
	for _, v := range append(WorkloadPolicy(objs), CrossReferences(objs)...) {
		t.Error(v)
	}
	for _, name := range []string{"grpc-server", "worker-redis", "worker-pubsub", "ingest-grpc", "ingest-redis", "ingest-pubsub"} {
		if _, ok := find[*appsv1.Deployment](objs, name); !ok {
			t.Errorf("no Deployment %s", name)
		} else if !strings.Contains(script, "deployment/$d") && !strings.Contains(script, "deployment/"+name) {
			t.Errorf("gke-apply does not wait for the rollout of %s", name)
		}
	}
}

// --- the checker catches bad input

const goodBuild = `substitutions:
  _IMAGE: us-docker.pkg.dev/${PROJECT_ID}/r/app
options:
  dynamicSubstitutions: true
  machineType: E2_HIGHCPU_8
steps:
  - id: build
    name: gcr.io/cloud-builders/docker:24.0.9
    args: ["build", "-t", "${_IMAGE}:${SHORT_SHA}", "."]
  - id: run
    name: gcr.io/google.com/cloudsdktool/google-cloud-cli:573.0.0-stable
    entrypoint: bash
    waitFor: ["build"]
    args:
      - -ceu
      - |
        for s in a b; do echo "$$s ${_IMAGE}"; done
`

func TestCloudBuildCheckerCatchesBadInput(t *testing.T) {
	b, err := ParseCloudBuild([]byte(goodBuild))
	if err != nil {
		t.Fatal(err)
	}
	if p := CheckCloudBuild(b, ""); len(p) != 0 {
		t.Fatalf("the good build has problems: %v", p)
	}
	decodeFails := []struct{ name, from, to string }{
		{"unknown field", "waitFor:", "waitfor:"},
		{"unknown top-level field", "options:", "option:"},
		{"bad enum", "E2_HIGHCPU_8", "E2_HUGE"},
		{"wrong type", `waitFor: ["build"]`, `waitFor: build`},
	}
	for _, c := range decodeFails {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(goodBuild, c.from, c.to, 1)
			if bad == goodBuild {
				t.Fatalf("%q not found", c.from)
			}
			if _, err := ParseCloudBuild([]byte(bad)); err == nil {
				t.Error("decoded without error")
			} else {
				t.Logf("rejected: %v", err)
			}
		})
	}
	checkFails := []struct{ name, from, to, want string }{
		{"undefined substitution", "${_IMAGE}\"; done", "${_IMAGES}\"; done", "$_IMAGES is not a substitution"},
		{"shell variable not escaped", "$$s", "$s", "$s is not a substitution"},
		{"unused substitution", "  _IMAGE:", "  _UNUSED: x\n  _IMAGE:", "_UNUSED is defined but never used"},
		{"lowercase substitution", "  _IMAGE:", "  _image: x\n  _IMAGE:", "_UPPER_CASE"},
		{"latest image", "google-cloud-cli:573.0.0-stable", "google-cloud-cli:latest", "uses the tag latest"},
		{"untagged image", "google-cloud-cli:573.0.0-stable", "google-cloud-cli", "no tag or digest"},
		{"bad waitFor", `waitFor: ["build"]`, `waitFor: ["biuld"]`, `waitFor "biuld" names no earlier step`},
		{"repeated id", "id: run", "id: build", "id repeated"},
		{"bash syntax error", "done\n", "done; fi\n", "bash -n"},
		{"docker build without tag", `"-t", "${_IMAGE}:${SHORT_SHA}", `, "", "docker build without -t"},
		{"docker build tagged latest", "${_IMAGE}:${SHORT_SHA}", "${_IMAGE}:latest", "uses the tag latest"},
		{"dynamic substitutions off", "dynamicSubstitutions: true", "dynamicSubstitutions: false", "dynamicSubstitutions is not true"},
	}
	for _, c := range checkFails {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(goodBuild, c.from, c.to, 1)
			if bad == goodBuild {
				t.Fatalf("%q not found", c.from)
			}
			b, err := ParseCloudBuild([]byte(bad))
			if err != nil {
				t.Fatal(err)
			}
			if p := CheckCloudBuild(b, ""); !containsSubstring(p, c.want) {
				t.Errorf("problems %q do not mention %q", p, c.want)
			}
		})
	}
	t.Run("gcloud env value with commas", func(t *testing.T) {
		src := goodBuild + `  - id: deploy
    name: gcr.io/google.com/cloudsdktool/google-cloud-cli:573.0.0-stable
    entrypoint: gcloud
    args: ["run", "deploy", "x", "--image=${_IMAGE}:v1", "--update-env-vars=SPLIT=grpc=50,redis=50"]
`
		b, err := ParseCloudBuild([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if p := CheckCloudBuild(b, ""); !containsSubstring(p, "^DELIM^") {
			t.Errorf("problems %q do not flag the comma in the env value", p)
		}
	})
	t.Run("producer key", func(t *testing.T) {
		post := `  - id: smoke
    name: python:3.13-slim
    entrypoint: bash
    secretEnv: ["VAC_PRODUCER_KEY"]
    args: ["-ceu", "python3 deploy/check/smoke.py --post --ingest x --realtime y"]
availableSecrets:
  secretManager:
    - versionName: projects/$PROJECT_ID/secrets/vacunometro-producer-key/versions/latest
      env: VAC_PRODUCER_KEY
`
		good, err := ParseCloudBuild([]byte(goodBuild + post))
		if err != nil {
			t.Fatal(err)
		}
		if p := CheckCloudBuild(good, ""); len(p) != 0 {
			t.Fatalf("a posting step with the key from Secret Manager has problems: %v", p)
		}
		for _, c := range []struct{ name, from, to, want string }{
			{"no secretEnv", `    secretEnv: ["VAC_PRODUCER_KEY"]` + "\n", "", "posts records but has no secretEnv VAC_PRODUCER_KEY"},
			{"key in env", `    secretEnv: ["VAC_PRODUCER_KEY"]`, `    env: ["VAC_PRODUCER_KEY=vacp_x"]`, "VAC_PRODUCER_KEY in env"},
			{"secret not available", "      env: VAC_PRODUCER_KEY", "      env: OTHER", "secretEnv VAC_PRODUCER_KEY is not in availableSecrets"},
			{"not a secret version", "secrets/vacunometro-producer-key/versions/latest", "secrets/vacunometro-producer-key", "is not a Secret Manager version"},
		} {
			t.Run(c.name, func(t *testing.T) {
				bad := strings.Replace(goodBuild+post, c.from, c.to, 1)
				if bad == goodBuild+post {
					t.Fatalf("%q not found", c.from)
				}
				b, err := ParseCloudBuild([]byte(bad))
				if err != nil {
					t.Fatal(err)
				}
				if p := CheckCloudBuild(b, ""); !containsSubstring(p, c.want) {
					t.Errorf("problems %q do not mention %q", p, c.want)
				}
			})
		}
	})
	t.Run("missing repository file", func(t *testing.T) {
		src := strings.Replace(goodBuild, `echo "$$s ${_IMAGE}"`, `python3 deploy/check/nothere.py`, 1)
		b, err := ParseCloudBuild([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if p := CheckCloudBuild(b, repoRoot(t)); !containsSubstring(p, "deploy/check/nothere.py, which is not in the repository") {
			t.Errorf("problems %q do not flag the missing file", p)
		}
	})
}

// The pipeline tests with a Go toolchain at least as new as go.mod asks for.
func TestCloudBuildGoToolchainMatchesGoMod(t *testing.T) {
	b := loadCloudBuild(t)
	want := GoDirective(readRepoFile(t, "go.mod"))
	subs := Substitutions(b, nil)
	n := 0
	for _, s := range b.GetSteps() {
		ref, err := ParseImageRef(Expand(s.GetName(), subs))
		if err != nil || !strings.HasSuffix(ref.Path, "golang") {
			continue
		}
		n++
		if !versionAtLeast(ref.Tag, want) {
			t.Errorf("step %s uses %s, go.mod needs go %s", s.GetId(), s.GetName(), want)
		}
	}
	if n == 0 {
		t.Error("no step runs a golang image (the tests)")
	}
}
