package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/vacunometro/vacunometro/internal/split"
)

// Backend is where a split lives: the ingest's in-process split, Cloud Run
// revision traffic, or a GKE HTTPRoute. Set must be all or nothing: after
// it returns, with or without an error, the split is either the old one or
// the new one (each backend below changes it in one request).
type Backend interface {
	// Describe names the backend and what it changes, for messages.
	Describe() string
	// Get reads the current weights, by route.
	Get(ctx context.Context) (split.Weights, error)
	// Set changes the weights.
	Set(ctx context.Context, w split.Weights) error
	// Command is a shell command a person can run to set w by hand.
	Command(w split.Weights) string
}

// orderedRoutes lists w's routes: the known order first, then the rest by name.
func orderedRoutes(w split.Weights) []string {
	names := make([]string, 0, len(w))
	for n := range w {
		names = append(names, n)
	}
	rank := map[string]int{"grpc": 0, "redis": 1, "pubsub": 2}
	sort.Slice(names, func(i, j int) bool {
		ri, iok := rank[names[i]]
		rj, jok := rank[names[j]]
		switch {
		case iok && jok:
			return ri < rj
		case iok != jok:
			return iok
		}
		return names[i] < names[j]
	})
	return names
}

// Format renders w in route order: "grpc=25,redis=38,pubsub=37".
func Format(w split.Weights) string {
	var b strings.Builder
	for i, n := range orderedRoutes(w) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%d", n, w[n])
	}
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ---- local: the ingest's split over HTTP ----

// Local changes the split of one ingest (or `up`) with GET/PUT /api/split.
type Local struct {
	Target string // base URL, e.g. http://127.0.0.1:8080
	Token  string // ADMIN_TOKEN
	Client *http.Client
}

func (l *Local) client() *http.Client {
	if l.Client != nil {
		return l.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (l *Local) Describe() string { return "the split of " + l.Target + " (PUT /api/split)" }

func (l *Local) Get(ctx context.Context) (split.Weights, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.Target+"/api/split", nil)
	if err != nil {
		return nil, err
	}
	return l.do(req)
}

func (l *Local) Set(ctx context.Context, w split.Weights) error {
	body, _ := json.Marshal(map[string]split.Weights{"weights": w})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, l.Target+"/api/split", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+l.Token)
	got, err := l.do(req)
	if err != nil {
		return err
	}
	for n, v := range w {
		if got[n] != v {
			return fmt.Errorf("PUT %s/api/split: answered %s, asked for %s", l.Target, Format(got), Format(w))
		}
	}
	return nil
}

func (l *Local) do(req *http.Request) (split.Weights, error) {
	resp, err := l.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(raw))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			msg += " (set ADMIN_TOKEN, or --token-file, to the ingest's admin token)"
		}
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL, resp.Status, msg)
	}
	var body struct {
		Weights split.Weights `json:"weights"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.Weights == nil {
		return nil, fmt.Errorf("%s %s: want {\"weights\":{...}}, got %q", req.Method, req.URL, raw)
	}
	return body.Weights, nil
}

func (l *Local) Command(w split.Weights) string {
	body, _ := json.Marshal(map[string]split.Weights{"weights": w})
	return fmt.Sprintf(`curl -fsS -X PUT %s/api/split -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' -d %s`,
		shellQuote(l.Target), shellQuote(string(body)))
}

// ---- running a command-line tool (gcloud, kubectl) ----

// Runner runs a program found on PATH and returns its standard output.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecRunner runs the program with os/exec; its error carries stderr.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func commandLine(name string, args []string) string {
	q := make([]string, 0, len(args)+1)
	q = append(q, name)
	for _, a := range args {
		q = append(q, shellQuote(a))
	}
	return strings.Join(q, " ")
}

// parseMapping reads "grpc=blue,redis=green" into route -> name.
func parseMapping(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q: want route=name", part)
		}
		out[k] = v
	}
	return out, nil
}
