package httpx

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vacunometro/vacunometro/internal/testenv"
)

func TestSecureStaticListsNoDirectoryAndSetsHeaders(t *testing.T) {
	dir := t.TempDir()
	testenv.WriteFiles(t, dir, map[string]string{"index.html": "<!doctype html>", "assets/app-1234.js": "console.log(1)"})
	srv := httptest.NewServer(SecureStatic(dir, http.FileServer(http.Dir(dir))))
	defer srv.Close()
	get := func(path string) (int, http.Header, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for _, p := range []string{"/assets/", "/assets", "/assets/../assets/", "//assets//"} {
		code, _, body := get(p)
		if code != http.StatusNotFound || strings.Contains(body, "app-1234.js") {
			t.Errorf("GET %s: %d, lists %v; want 404 and no listing", p, code, strings.Contains(body, "app-1234.js"))
		}
	}
	for _, p := range []string{"/", "/assets/app-1234.js"} {
		code, h, _ := get(p)
		if code != 200 {
			t.Errorf("GET %s: %d", p, code)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s: headers %v lack nosniff, Referrer-Policy or CSP", p, h)
		}
	}
}

func TestReadBodyCapsDecompressed(t *testing.T) {
	// Covered through the ingest (TestBodyEncodings); here the plain cap.
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", 11)))
	if _, _, err := ReadBody(httptest.NewRecorder(), req, 10, nil); err == nil {
		t.Fatal("11 bytes read under a 10-byte cap")
	}
	req = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", 10)))
	if b, _, err := ReadBody(httptest.NewRecorder(), req, 10, nil); err != nil || len(b) != 10 {
		t.Fatalf("10 bytes under a 10-byte cap: %d, %v", len(b), err)
	}
}
