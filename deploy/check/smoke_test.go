package check

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startUp runs `vacunometro up` (the binary built like the Dockerfile) with its embedded services
// on a free loopback port and returns its base URL; the process group is ended when the test ends.
// producerKey is the key the test's `up` gives its producer "local"
// (LOCAL_PRODUCER_KEY) and the smoke script sends (VAC_PRODUCER_KEY, from
// Secret Manager in Cloud Build).
var producerKey = func() func(t *testing.T) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	k := "vacp_" + hex.EncodeToString(b[:])
	return func(*testing.T) string { return k }
}()

func startUp(t *testing.T, bin string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "MONGODB_URI", "REDIS_URL", "PUBSUB_PROJECT", "PUBSUB_EMULATOR_HOST", "GRPC_SERVER_ADDRESS", "SPLIT", "ADMIN_TOKEN", "PORT", "WEB_DIR":
			continue
		}
		env = append(env, kv)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "up", "--addr", addr, "--data", t.TempDir())
	cmd.Env = append(env, "LOCAL_PRODUCER_KEY="+producerKey(t))
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("vacunometro up output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("vacunometro up exited:\n%s", out.String())
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("vacunometro up not ready after 90s:\n%s", out.String())
	return ""
}

func runSmoke(t *testing.T, args ...string) (string, error) {
	t.Helper()
	py := requireTool(t, "python3", "the smoke script was not run")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{filepath.Join(repoRoot(t), "deploy", "check", "smoke.py")}, args...)...)
	cmd.Env = append(os.Environ(), "VAC_PRODUCER_KEY="+producerKey(t))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The smoke check Cloud Build runs after each deploy passes against a real vacunometro (the one-
// process mode, same binary) and fails when the deployment is broken.
func TestSmokeScriptAgainstVacunometroUp(t *testing.T) {
	bin := buildForUp(t)
	base := startUp(t, bin)
	id := fmt.Sprintf("smoke-check-%d", time.Now().UnixNano())

	out, err := runSmoke(t, "--post", "--id", id, "--ingest", base, "--realtime", base, "--timeout", "60")
	t.Logf("smoke --post:\n%s", out)
	if err != nil || !strings.Contains(out, "0 failed") {
		t.Fatalf("smoke --post failed against a healthy server: %v", err)
	}
	out, err = runSmoke(t, "--ingest", base, "--realtime", base, "--reads", "5", "--timeout", "30")
	if err != nil {
		t.Fatalf("read-only smoke failed against a healthy server: %v\n%s", err, out)
	}

	// The pipeline's Locust step, as Cloud Build runs it (substitutions applied, the tag URL read
	// from the workspace), for a few seconds against this server.
	t.Run("cloudbuild locust step", func(t *testing.T) {
		requireTool(t, "locust", "the Locust step was not run (apt-get install python3-locust)")
		b := loadCloudBuild(t)
		subs := Substitutions(b, map[string]string{"_LOCUST_TIME": "5s", "_LOCUST_USERS": "2"})
		var args []string
		for _, a := range step(t, b, "locust").GetArgs() {
			args = append(args, Expand(a, subs))
		}
		script, ok := shellScript(args)
		if !ok {
			t.Fatal("the locust step is not a bash -c script")
		}
		ws := t.TempDir()
		if err := os.WriteFile(filepath.Join(ws, "ingest_tag_url"), []byte(base+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		script = strings.ReplaceAll(script, "/workspace/", ws+"/")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "-c", script)
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), "VAC_PRODUCER_KEY="+producerKey(t)) // secretEnv in Cloud Build
		out, err := cmd.CombinedOutput()
		t.Logf("locust step:\n%s", lastLines(string(out), 12))
		if err != nil {
			t.Errorf("the locust step failed against a healthy server: %v", err)
		}
	})

	t.Run("realtime down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String()
		ln.Close()
		out, err := runSmoke(t, "--ingest", base, "--realtime", dead, "--timeout", "3")
		if err == nil {
			t.Errorf("smoke passed with the realtime URL down:\n%s", out)
		}
	})
	t.Run("record refused", func(t *testing.T) {
		out, err := runSmoke(t, "--post", "--id", "not a valid id!", "--ingest", base, "--realtime", base, "--timeout", "10")
		if err == nil || !strings.Contains(out, "want 202") {
			t.Errorf("smoke passed although the ingest refused the record: %v\n%s", err, out)
		}
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
