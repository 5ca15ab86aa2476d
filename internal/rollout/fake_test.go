package rollout

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The tests run fake `gcloud` and `kubectl` commands: links to the test
// binary itself, put first on PATH, which TestMain turns into the fake when
// started under those names. Each records its arguments (one JSON array a
// line in $FAKE_LOG), keeps the service or HTTPRoute in $FAKE_STATE, and
// fails its $FAKE_FAIL_ON-th change.

func TestMain(m *testing.M) {
	switch filepath.Base(os.Args[0]) {
	case "gcloud":
		os.Exit(fakeGcloud(os.Args[1:]))
	case "kubectl":
		os.Exit(fakeKubectl(os.Args[1:]))
	}
	code := m.Run()
	cleanupBinary()
	os.Exit(code)
}

// fakeTools puts gcloud and kubectl first on PATH with the given state.
func fakeTools(t *testing.T, state string, failOn int) (logPath, statePath string) {
	t.Helper()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gcloud", "kubectl"} {
		if err := os.Symlink(self, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	logPath, statePath = filepath.Join(dir, "calls.log"), filepath.Join(dir, "state.json")
	if err := os.WriteFile(statePath, []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_LOG", logPath)
	t.Setenv("FAKE_STATE", statePath)
	t.Setenv("FAKE_FAIL_ON", strconv.Itoa(failOn))
	return logPath, statePath
}

// calls reads the fake's log: the arguments of each call.
func calls(t *testing.T, logPath string) [][]string {
	t.Helper()
	raw, err := os.ReadFile(logPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if line == "" {
			continue
		}
		var args []string
		if err := json.Unmarshal([]byte(line), &args); err != nil {
			t.Fatal(err)
		}
		out = append(out, args)
	}
	return out
}

func fakeRecord(args []string) {
	b, _ := json.Marshal(args)
	f, err := os.OpenFile(os.Getenv("FAKE_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err == nil {
		fmt.Fprintf(f, "%s\n", b)
		f.Close()
	}
}

// fakeChangeFails counts a change and says whether this one must fail.
func fakeChangeFails() bool {
	path := os.Getenv("FAKE_STATE") + ".changes"
	raw, _ := os.ReadFile(path)
	n, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	n++
	_ = os.WriteFile(path, []byte(strconv.Itoa(n)), 0o600)
	fail, _ := strconv.Atoi(os.Getenv("FAKE_FAIL_ON"))
	return fail > 0 && n == fail
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func fakeGcloud(args []string) int {
	fakeRecord(args)
	state := os.Getenv("FAKE_STATE")
	switch {
	case len(args) >= 4 && args[0] == "run" && args[1] == "services" && args[2] == "describe":
		raw, err := os.ReadFile(state)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ERROR:", err)
			return 1
		}
		os.Stdout.Write(raw)
		return 0
	case len(args) >= 4 && args[0] == "run" && args[1] == "services" && args[2] == "update-traffic":
		if fakeChangeFails() {
			fmt.Fprintln(os.Stderr, "ERROR: (gcloud.run.services.update-traffic) PERMISSION_DENIED: the caller lost run.services.update")
			return 1
		}
		type entry struct {
			RevisionName string `json:"revisionName"`
			Tag          string `json:"tag"`
			Percent      int    `json:"percent,omitempty"`
		}
		var traffic []entry
		total := 0
		for _, kv := range strings.Split(flagValue(args, "--to-tags"), ",") {
			tag, pct, _ := strings.Cut(kv, "=")
			p, err := strconv.Atoi(pct)
			if err != nil {
				fmt.Fprintln(os.Stderr, "ERROR: bad --to-tags", kv)
				return 1
			}
			total += p
			traffic = append(traffic, entry{RevisionName: args[3] + "-" + tag, Tag: tag, Percent: p})
		}
		if total != 100 {
			fmt.Fprintln(os.Stderr, "ERROR: traffic must add up to 100")
			return 1
		}
		b, _ := json.Marshal(map[string]any{"status": map[string]any{"traffic": traffic}})
		_ = os.WriteFile(state, b, 0o600)
		fmt.Fprintln(os.Stderr, "Updating traffic...done.")
		return 0
	}
	fmt.Fprintln(os.Stderr, "fake gcloud: unexpected", args)
	return 2
}

func fakeKubectl(args []string) int {
	fakeRecord(args)
	if len(args) >= 2 && args[0] == "--context" {
		args = args[2:]
	}
	state := os.Getenv("FAKE_STATE")
	switch {
	case len(args) >= 2 && args[0] == "get" && (args[1] == "httproute" || args[1] == "grpcroute"):
		raw, err := os.ReadFile(state)
		if err != nil {
			fmt.Fprintln(os.Stderr, "Error from server (NotFound):", err)
			return 1
		}
		os.Stdout.Write(raw)
		return 0
	case len(args) >= 2 && args[0] == "patch" && (args[1] == "httproute" || args[1] == "grpcroute"):
		if flagValue(args, "--type") != "json" {
			fmt.Fprintln(os.Stderr, "fake kubectl: want --type=json")
			return 2
		}
		if fakeChangeFails() {
			fmt.Fprintln(os.Stderr, "error: unable to connect to the server: dial tcp: i/o timeout")
			return 1
		}
		raw, _ := os.ReadFile(state)
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		var ops []struct {
			Op    string `json:"op"`
			Path  string `json:"path"`
			Value any    `json:"value"`
		}
		if err := json.Unmarshal([]byte(flagValue(args, "-p")), &ops); err != nil {
			fmt.Fprintln(os.Stderr, "error: unable to parse the patch:", err)
			return 1
		}
		// Apply to a copy: all or nothing, like the API server.
		for _, op := range ops {
			parts := strings.Split(strings.TrimPrefix(op.Path, "/"), "/")
			parent, last := pointer(doc, parts[:len(parts)-1]), parts[len(parts)-1]
			obj, ok := parent.(map[string]any)
			if !ok {
				fmt.Fprintln(os.Stderr, "The request is invalid: path not found:", op.Path)
				return 1
			}
			switch op.Op {
			case "test":
				if fmt.Sprint(obj[last]) != fmt.Sprint(op.Value) {
					fmt.Fprintf(os.Stderr, "The request is invalid: testing value %s failed\n", op.Path)
					return 1
				}
			case "add", "replace":
				obj[last] = op.Value
			default:
				fmt.Fprintln(os.Stderr, "fake kubectl: unsupported op", op.Op)
				return 2
			}
		}
		b, _ := json.Marshal(doc)
		_ = os.WriteFile(state, b, 0o600)
		fmt.Printf("%s.gateway.networking.k8s.io/%s patched\n", args[1], args[2])
		return 0
	}
	fmt.Fprintln(os.Stderr, "fake kubectl: unexpected", args)
	return 2
}

func pointer(doc any, parts []string) any {
	for _, p := range parts {
		switch v := doc.(type) {
		case map[string]any:
			doc = v[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(v) {
				return nil
			}
			doc = v[i]
		default:
			return nil
		}
	}
	return doc
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
