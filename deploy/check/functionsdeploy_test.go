package check

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func functionTexts(t *testing.T) map[string]string {
	return map[string]string{
		"docs/deploy.md":     readRepoFile(t, "docs/deploy.md"),
		"functions/lazy.go":  readRepoFile(t, "functions/lazy.go"),
		"functions/cmd/main": readRepoFile(t, "functions/cmd/main.go"),
	}
}

func TestFunctionsDeployTheWayTheGuideSays(t *testing.T) {
	texts := functionTexts(t)
	n := 0
	for _, s := range texts {
		n += strings.Count(s, "--source .")
	}
	if n == 0 {
		t.Fatal("no gcloud run deploy --source in the guide or the functions' docs")
	}
	for _, p := range CheckSourceDeploys(repoRoot(t), texts) {
		t.Error(p)
	}
}

func TestSourceDeploysCatchTheOldForm(t *testing.T) {
	root := repoRoot(t)
	old := map[string]string{"functions/lazy.go": "// Deploy with\n// gcloud run deploy --source . --function Ingest\n"}
	if p := CheckSourceDeploys(root, old); !containsSubstring(p, "builds a function only from the package at the source root") {
		t.Errorf("the old form passed: %v", p)
	}
	notMain := map[string]string{"x": "```sh\ngcloud run deploy f --source . --set-build-env-vars=GOOGLE_BUILDABLE=./functions/ingest\n```\n"}
	if p := CheckSourceDeploys(root, notMain); !containsSubstring(p, "is not a main package") {
		t.Errorf("a function package as GOOGLE_BUILDABLE passed: %v", p)
	}
}

// TestFunctionsCmdRunsLikeTheBuildpack builds ./functions/cmd as GOOGLE_BUILDABLE would and
// starts it the way Cloud Run does (FUNCTION_TARGET, PORT): it must listen and answer /health.
func TestFunctionsCmdRunsLikeTheBuildpack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ./functions/cmd")
	}
	root := repoRoot(t)
	bin := filepath.Join(t.TempDir(), "functions")
	build := exec.Command("go", "build", "-o", bin, "./functions/cmd")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./functions/cmd: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	bad := exec.Command(bin)
	bad.Env = []string{"PATH=" + os.Getenv("PATH")}
	var exitErr *exec.ExitError
	if err := bad.Run(); !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
		t.Errorf("without FUNCTION_TARGET: %v, want exit status 2", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "FUNCTION_TARGET=Ingest", "HOST=127.0.0.1", "PORT=" + itoa(port), "SPLIT=redis=100", "REDIS_URL=redis://127.0.0.1:1/0"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	url := "http://127.0.0.1:" + itoa(port) + "/health"
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			// The handler is built on the first request; with no Redis it answers 503 (and says
			// so), which still proves the layout: the buildpack's binary serves the function on PORT.
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("GET /health = %d", resp.StatusCode)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("functions/cmd never listened on PORT %d: %v", port, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
