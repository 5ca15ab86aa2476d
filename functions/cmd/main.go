// Command functions serves the Cloud Run functions locally and in a
// container, as Cloud Run does: FUNCTION_TARGET (Ingest or Realtime) picks
// the function, PORT the port (default 8080). Unlike funcframework.Start it
// shuts down gracefully on SIGTERM.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vacunometro/vacunometro/functions"
	"github.com/vacunometro/vacunometro/functions/ingest"
	"github.com/vacunometro/vacunometro/functions/realtime"
	"github.com/vacunometro/vacunometro/internal/httpx"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	targets := map[string]*functions.Lazy{"Ingest": ingest.Handler, "Realtime": realtime.Handler}
	target := os.Getenv("FUNCTION_TARGET")
	h, ok := targets[target]
	if !ok {
		fmt.Fprintf(os.Stderr, "FUNCTION_TARGET must be Ingest or Realtime (got %q)\n", target)
		os.Exit(2)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	host := os.Getenv("HOST") // empty on Cloud Run: all interfaces, as its contract requires
	srv := httpx.NewServer(http.Handler(h), log, httpx.ServerOptions{})
	err := httpx.Serve(ctx, srv, host+":"+port, 10*time.Second, nil)
	h.Close()
	if err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
