package httpx

import (
	"net/http"
	"os"
	"path/filepath"
)

// DashboardCSP is the Content-Security-Policy of the dashboard: its own
// scripts, styles, images and WebSocket only; no plugins, frames or forms.
const DashboardCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// SecureStatic wraps the handler of a static site served from dir: it sets
// the security headers (Content-Security-Policy, X-Content-Type-Options,
// Referrer-Policy, X-Frame-Options) on every answer, and answers 404 for a
// directory other than the root instead of listing its files.
func SecureStatic(dir string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", DashboardCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		if clean := filepath.Clean("/" + r.URL.Path); clean != "/" {
			if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(clean))); err == nil && fi.IsDir() {
				http.NotFound(w, r)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
