// Package httpx provides the HTTP plumbing every vacunometro server shares:
// JSON answers and errors, bearer-token checks, request metrics, and a
// server with timeouts and graceful shutdown.
package httpx

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vacunometro/vacunometro/internal/metrics"
)

// WriteJSON writes v as JSON with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// Error is the JSON body of every error answer.
type Error struct {
	Error  string `json:"error"`
	Errors any    `json:"errors,omitempty"`
}

// WriteError writes {"error": msg} with status code.
func WriteError(w http.ResponseWriter, code int, msg string) {
	WriteJSON(w, code, Error{Error: msg})
}

// CheckBearer reports whether r carries "Authorization: Bearer <token>",
// compared in constant time; the scheme's letter case does not matter
// (RFC 9110, section 11.1). An empty token refuses everyone.
func CheckBearer(r *http.Request, token string) bool {
	if token == "" {
		return false
	}
	scheme, got, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got = strings.TrimLeft(got, " ")
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// RefusedLogInterval is how often RequireAdmin logs refused requests: one
// WARN per interval at most, carrying how many were refused since the last.
const RefusedLogInterval = 10 * time.Second

// RequireAdmin wraps h so that it runs only with the admin bearer token.
// Refusals are logged at most once per RefusedLogInterval (a client that
// guesses tokens must not flood the log).
func RequireAdmin(token string, log *slog.Logger, h http.HandlerFunc) http.HandlerFunc {
	refused := NewLogLimiter(RefusedLogInterval)
	return func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			WriteError(w, http.StatusForbidden, "admin actions are disabled: start the server with ADMIN_TOKEN set")
			return
		}
		if !CheckBearer(r, token) {
			if n, ok := refused.Allow(); ok {
				log.Warn("admin request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "refused_since_last_log", n)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="vacunometro"`)
			WriteError(w, http.StatusUnauthorized, "admin token required: Authorization: Bearer <ADMIN_TOKEN>")
			return
		}
		h(w, r)
	}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Instrument counts requests and their latency under the handler name.
func Instrument(m *metrics.Metrics, name string, h http.Handler) http.Handler {
	hist := m.HTTPDuration.WithLabelValues(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		hist.Observe(time.Since(start).Seconds())
		m.HTTPRequests.WithLabelValues(name, strconv.Itoa(sw.code)).Inc()
	})
}

// ServerOptions are the limits of an HTTP server.
type ServerOptions struct {
	ReadHeaderTimeout time.Duration // slowloris guard (default 5s)
	ReadTimeout       time.Duration // whole request (default 30s)
	WriteTimeout      time.Duration // default 0: WebSocket connections live long; handlers set their own deadlines
	IdleTimeout       time.Duration // default 120s
	MaxHeaderBytes    int           // default 64 KiB
}

// NewServer returns an http.Server with the limits applied.
func NewServer(h http.Handler, log *slog.Logger, o ServerOptions) *http.Server {
	if o.ReadHeaderTimeout == 0 {
		o.ReadHeaderTimeout = 5 * time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 120 * time.Second
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	return &http.Server{
		Handler:           ContinueTrace(h),
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Serve listens on addr and serves until ctx ends, then shuts down
// gracefully within grace. It reports the bound address on ready (useful
// with port 0).
func Serve(ctx context.Context, srv *http.Server, addr string, grace time.Duration, ready func(net.Addr)) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	if ready != nil {
		ready(lis.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown %s: %w", addr, err)
	}
	return nil
}
