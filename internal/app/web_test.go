package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vacunometro/vacunometro/internal/testenv"
)

// The dashboard lists no directory and carries the security headers
// (issue 16).
func TestDashboardListsNoFilesAndSetsSecurityHeaders(t *testing.T) {
	dir := t.TempDir()
	testenv.WriteFiles(t, dir, map[string]string{"index.html": "<!doctype html><title>x</title>", "assets/index-abc.js": "1"})
	srv := httptest.NewServer(webHandler(dir))
	defer srv.Close()
	for _, tt := range []struct {
		path string
		code int
	}{{"/", 200}, {"/assets/", 404}, {"/assets", 404}, {"/assets/index-abc.js", 200}, {"/some/page", 200}} {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || strings.Contains(string(b), "index-abc.js") && tt.path != "/assets/index-abc.js" {
			t.Errorf("GET %s: %d %q, want %d and no listing", tt.path, resp.StatusCode, b, tt.code)
		}
		h := resp.Header
		if h.Get("Content-Security-Policy") == "" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
			t.Errorf("GET %s: CSP %q, nosniff %q, Referrer-Policy %q", tt.path, h.Get("Content-Security-Policy"), h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"))
		}
	}
}
