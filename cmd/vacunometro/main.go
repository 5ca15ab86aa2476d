// Command vacunometro runs vacunometro's parts: `up` runs all of them in one
// process; the other subcommands run one part each (see internal/app).
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/vacunometro/vacunometro/internal/app"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// Collect at twice the live heap rather than once: the hot path's
		// garbage is short-lived (a request's body and records), and the
		// default spent 6-8% of each tier's CPU marking under single-record
		// load. GOGC (and GOMEMLIMIT) override it.
		debug.SetGCPercent(200)
	}
	// The first SIGINT or SIGTERM starts a graceful shutdown; a second one
	// kills the process at once (signal.NotifyContext restores the default).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
