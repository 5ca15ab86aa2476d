package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vacunometro/vacunometro/internal/httpx"
)

// registerHealth adds /healthz and /health (the process runs), /readyz and
// /ready (its clients answer), /metrics and the admin-only profiles to mux.
// /health and /ready give the same answers on paths that do not end in "z",
// which Cloud Run may reserve from outside
// (https://cloud.google.com/run/docs/known-issues): external checks use
// these, in-container probes may use either.
func (c *clients) registerHealth(mux *http.ServeMux) {
	alive := func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
	mux.HandleFunc("GET /healthz", alive)
	mux.HandleFunc("GET /health", alive)
	ready := func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		out := map[string]string{}
		code := http.StatusOK
		for name, check := range c.checks {
			if err := check(ctx); err != nil {
				out[name] = err.Error()
				code = http.StatusServiceUnavailable
			} else {
				out[name] = "ok"
			}
		}
		httpx.WriteJSON(w, code, out)
	}
	mux.HandleFunc("GET /readyz", ready)
	mux.HandleFunc("GET /ready", ready)
	mux.Handle("GET /metrics", c.m.Handler())
	// Profiles for `make bench -profile` and operators, behind the admin token.
	admin := func(h http.HandlerFunc) http.HandlerFunc { return httpx.RequireAdmin(c.set.AdminToken, c.log, h) }
	mux.HandleFunc("GET /debug/pprof/", admin(pprof.Index))
	mux.HandleFunc("GET /debug/pprof/profile", admin(pprof.Profile))
	mux.HandleFunc("GET /debug/pprof/trace", admin(pprof.Trace))
	mux.HandleFunc("GET /debug/pprof/symbol", admin(pprof.Symbol))
	mux.HandleFunc("GET /debug/pprof/cmdline", admin(pprof.Cmdline))
}

// webHandler serves the built dashboard from dir, with index.html for
// unknown paths (a single-page app), or a short page saying how to build it.
func webHandler(dir string) http.Handler {
	index := filepath.Join(dir, "index.html")
	files := http.FileServer(http.Dir(dir))
	// Security headers on every answer, and no directory listings.
	return httpx.SecureStatic(dir, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(index); err != nil {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><meta charset="utf-8"><title>vacunometro</title>
<h1>vacunometro</h1><p>The dashboard is not built. Run <code>make web</code> (or <code>make run</code>).</p>
<p>Statistics: <a href="/api/stats">/api/stats</a> · WebSocket: <code>/ws</code></p>`)
			return
		}
		clean := filepath.Clean("/" + r.URL.Path)
		if clean != "/" {
			if _, err := os.Stat(filepath.Join(dir, clean)); err != nil && !strings.HasPrefix(clean, "/assets/") {
				http.ServeFile(w, r, index)
				return
			}
		}
		if strings.HasPrefix(clean, "/assets/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	}))
}
