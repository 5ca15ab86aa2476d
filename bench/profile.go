package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// adminToken is a fresh token for the `up` processes of one run, so that
// the bench can reach their admin endpoints (pprof, when they serve it).
func adminToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// producerKey is a fresh producer key for one run (the producer "local"
// of its `up` processes).
func producerKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "vacp_" + hex.EncodeToString(b[:])
}

// profiler captures a CPU profile of `up` during one measurement into dir:
// Go's pprof from /debug/pprof/profile when `up` serves it (with the admin
// token), else `perf record` on its PID when perf is installed.
type profiler struct {
	dir, token string
}

// start begins a profile of process pr (serving /debug/pprof at base)
// lasting d into DIR/name.pprof, and returns a function that waits for it
// and reports where it went.
func (p *profiler) start(ctx context.Context, pr *proc, base, name string, d time.Duration) func() {
	if p == nil || p.dir == "" {
		return func() {}
	}
	secs := int(math.Ceil(d.Seconds()))
	done := make(chan string, 1)
	if p.hasPprof(base) {
		path := filepath.Join(p.dir, name+".pprof")
		go func() { done <- p.pprof(ctx, base, path, secs) }()
	} else if perf, err := exec.LookPath("perf"); err == nil {
		path := filepath.Join(p.dir, name+".perf.data")
		cmd := exec.CommandContext(ctx, perf, "record", "-F", "499", "-g", "-p", strconv.Itoa(pr.pid()), "-o", path,
			"--", "sleep", strconv.Itoa(secs))
		go func() {
			if out, err := cmd.CombinedOutput(); err != nil {
				done <- fmt.Sprintf("perf record: %v: %s", err, out)
				return
			}
			done <- "perf profile of " + pr.name + ": " + path + " (perf report -i " + path + " --no-children)"
		}()
	} else {
		return func() { logf("profile: %s serves no /debug/pprof and perf is not installed", pr.name) }
	}
	return func() { logf("profile: %s", <-done) }
}

func (p *profiler) get(ctx context.Context, base, path string, timeout time.Duration) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	return (&http.Client{Timeout: timeout}).Do(req)
}

func (p *profiler) hasPprof(base string) bool {
	// /debug/pprof/cmdline answers text/plain; a dashboard that serves its
	// index.html for unknown paths answers text/html.
	resp, err := p.get(context.Background(), base, "/debug/pprof/cmdline", 5*time.Second)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain")
}

func (p *profiler) pprof(ctx context.Context, base, path string, secs int) string {
	resp, err := p.get(ctx, base, "/debug/pprof/profile?seconds="+strconv.Itoa(secs), time.Duration(secs+30)*time.Second)
	if err != nil {
		return "pprof: " + err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/octet-stream" {
		return fmt.Sprintf("pprof: status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	f, err := os.Create(path)
	if err != nil {
		return "pprof: " + err.Error()
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return "pprof: " + err.Error()
	}
	return "CPU profile: " + path + " (go tool pprof -top " + path + ")"
}
