package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/testenv"
)

// Issue 16 through `up`, as a hostile or careless client meets it: an id
// reused with other data, parallel split changes, a gzip upload, the
// dashboard's directory listing and headers, and the data directory's modes.
func TestUpHardening(t *testing.T) {
	addr := testenv.FreeAddr(t)
	data, web := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(web, "assets"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"index.html": "<!doctype html><title>v</title>", "assets/index-x1.js": "1"} {
		if err := os.WriteFile(filepath.Join(web, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const token = "hardening-admin-token"
	up := start(t, testenv.CleanEnv("ADMIN_TOKEN="+token), addr, "up", "--addr", addr, "--data", data, "--web", web)
	rec := func(id, name string) []byte {
		return []byte(`{"id":"` + id + `","name":"` + name + `","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":2}`)
	}

	// Defect 4: the same id with other data is a conflict; the first stays.
	if code, out := post(t, up.URL+"/api/records", "application/json", rec("h-1", "Ana Lopez")); code != 202 {
		t.Fatalf("first: %d %v", code, out)
	}
	if code, out := post(t, up.URL+"/api/records", "application/json", rec("h-1", "Berta Diaz")); code != http.StatusConflict {
		t.Fatalf("same id, other data: %d %v, want 409", code, out)
	}
	if code, out := post(t, up.URL+"/api/records", "application/json", rec("h-1", "Ana Lopez")); code != 202 {
		t.Fatalf("exact repeat: %d %v, want 202", code, out)
	}

	// A gzip upload of two records.
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(append(append(rec("h-2", "Carla Ruiz"), '\n'), rec("h-3", "Dora Paz")...))
	zw.Close()
	req, _ := http.NewRequest(http.MethodPost, up.URL+"/api/records", &zb)
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("gzip upload: %d", resp.StatusCode)
	}
	s := waitTotal(t, up.URL, 3, 20*time.Second)
	for _, l := range s.Latest {
		if strings.Contains(l.Name, "Berta") {
			t.Fatalf("the conflicting record was stored: %+v", s.Latest)
		}
	}

	// Defect 3: 40 parallel PUTs; the splitter, GET /api/split and the
	// published split (stats) agree afterwards.
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code := putSplit(t, up.URL, token, fmt.Sprintf(`{"weights":{"grpc":%d,"redis":%d,"pubsub":1}}`, i+1, 101-i)); code != 200 {
				t.Errorf("PUT /api/split: %d", code)
			}
		}()
	}
	wg.Wait()
	resp, err = http.Get(up.URL + "/api/split")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Weights map[string]int }
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	s = snapshot(t, up.URL)
	for _, r := range s.Routes {
		if got.Weights[r.Name] != r.Weight {
			t.Fatalf("GET /api/split %v, but /api/stats publishes %+v", got.Weights, s.Routes)
		}
	}

	// The dashboard: no listing, security headers.
	for _, p := range []string{"/assets/", "/"} {
		resp, err := http.Get(up.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "index-x1.js") {
			t.Errorf("GET %s lists the bundle's files: %s", p, b)
		}
		if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") == "" {
			t.Errorf("GET %s without the security headers: %v", p, resp.Header)
		}
	}

	// Defect 2: everything in the data directory is private to the user.
	stop(t, up)
	_ = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if fi, err := d.Info(); err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v, want private to the user", path, fi.Mode().Perm())
		}
		return nil
	})
}
