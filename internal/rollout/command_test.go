package rollout

// The rollout command against fake gcloud and kubectl (fake_test.go), run
// from the real binary with testenv's process harness.

import (
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/testenv"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// startRollout runs `vacunometro rollout args...` with vacunometro's
// settings cleared, building the binary once for the package.
func startRollout(t *testing.T, args ...string) *testenv.Proc {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "vacunometro-rollout"); buildErr == nil {
			binPath, buildErr = testenv.BuildBinary(binDir)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return testenv.StartProc(t, binPath, "rollout", testenv.CleanEnv(), "", append([]string{"rollout"}, args...)...)
}

func cleanupBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// TestRolloutCommandCloudBackends runs the command against fake gcloud and
// kubectl: without --apply it only prints; with it, it changes the
// HTTPRoute step by step, judged by a metrics endpoint.
func TestRolloutCommandCloudBackends(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	logPath, _ := fakeTools(t, runState, 0)
	p := startRollout(t, "--backend", "cloudrun", "--region", "us-central1", "--to", "pubsub", "--steps", "50,100")
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.Logs(20000))
	}
	out := p.Logs(0)
	for _, want := range []string{
		"plan for pubsub on Cloud Run service ingest in us-central1 (revision tags grpc=blue,redis=green,pubsub=canary), from grpc=34,redis=33,pubsub=33",
		"step 1/2: pubsub 50%: grpc=25,redis=25,pubsub=50",
		"gcloud run services update-traffic ingest --region us-central1 --to-tags blue=25,green=25,canary=50 --quiet",
		"gcloud run services update-traffic ingest --region us-central1 --to-tags blue=0,green=0,canary=100 --quiet",
		"on rollback: grpc=34,redis=33,pubsub=33",
		"add --apply to run them",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, c := range calls(t, logPath) {
		if !slices.Contains(c, "describe") {
			t.Errorf("printing the plan ran %q", c)
		}
	}

	logPath, statePath := fakeTools(t, routeState, 0)
	p = startRollout(t, "--backend", "gke", "--apply", "--to", "pubsub", "--steps", "50,100",
		"--interval", "1s", "--min-records", "10", "--metrics", feed(t, "pubsub"))
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.Logs(20000))
	}
	if !strings.Contains(p.Logs(0), "PROMOTED") {
		t.Errorf("output:\n%s", p.Logs(20000))
	}
	patches := 0
	for _, c := range calls(t, logPath) {
		if slices.Contains(c, "patch") {
			patches++
		}
	}
	raw, _ := os.ReadFile(statePath)
	if patches != 2 || !strings.Contains(string(raw), `"name":"ingest-pubsub","port":80,"weight":100`) {
		t.Errorf("%d patches; HTTPRoute now %s", patches, raw)
	}

	// A bad command line is refused with the usage.
	p = startRollout(t, "--to", "kafka")
	if code := p.Wait(30 * time.Second); code != 2 || !strings.Contains(p.Logs(0), "--to must be one of grpc, redis, pubsub") {
		t.Errorf("exit %d:\n%s", code, p.Logs(20000))
	}
}
