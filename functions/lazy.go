// Package functions holds the Cloud Run tiers as functions-framework-go
// functions: ingest (functions/ingest) and realtime (functions/realtime).
// Each is a thin shell over internal/app, so the function, `vacunometro
// ingest` and `vacunometro up` run the same code. Google's Go buildpack reads
// a function from the package at the root of the source, and this module's
// root has none, so `--function` cannot work here: deploy functions/cmd, the
// main that serves either function, from the repository root:
//
//	gcloud run deploy ingest-fn --source . --set-build-env-vars=GOOGLE_BUILDABLE=./functions/cmd \
//	  --set-env-vars=FUNCTION_TARGET=Ingest
//
// (docs/deploy.md, "Cloud Run functions"), or run functions/cmd locally.
package functions

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"

	"github.com/vacunometro/vacunometro/internal/httpx"
)

// Builder makes a tier's handler from the environment.
type Builder func(ctx context.Context, env func(string) string, log *slog.Logger) (http.Handler, func(), error)

// Lazy builds the handler on the first request (functions-framework
// registers handlers in init, before the process may open connections),
// and answers 503 while building fails, retrying on the next request.
type Lazy struct {
	build Builder
	log   *slog.Logger
	mu    sync.Mutex
	h     http.Handler
	close func()
}

// NewLazy returns a lazily built handler.
func NewLazy(build Builder) *Lazy {
	return &Lazy{build: build, log: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
}

func (l *Lazy) handler(ctx context.Context) (http.Handler, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.h != nil {
		return l.h, nil
	}
	h, closeFn, err := l.build(context.WithoutCancel(ctx), os.Getenv, l.log)
	if err != nil {
		return nil, err
	}
	l.h, l.close = h, closeFn
	return h, nil
}

// ServeHTTP serves the tier.
func (l *Lazy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, err := l.handler(r.Context())
	if err != nil {
		l.log.Error("start the tier", "err", err)
		httpx.WriteError(w, http.StatusServiceUnavailable, "starting: "+err.Error())
		return
	}
	h.ServeHTTP(w, r)
}

// Close flushes and closes what the handler opened.
func (l *Lazy) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.close != nil {
		l.close()
		l.close, l.h = nil, nil
	}
}
