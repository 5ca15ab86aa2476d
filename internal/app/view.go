package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/vacunometro/vacunometro/internal/httpx"
	"github.com/vacunometro/vacunometro/internal/sink"
	"github.com/vacunometro/vacunometro/internal/stats"
)

// openSink needs the store and Redis. It starts the view's keeper, which
// repairs batches left uncommitted by a crash and rebuilds a lost or foreign
// view in the background: nothing here reads more than a few documents, so
// a process is ready in the same time whatever MongoDB holds.
func (p *parts) openSink(ctx context.Context) error {
	p.keep = stats.NewKeeper(p.view, p.store, p.log.With("part", "view"), stats.KeeperOptions{AutoRebuild: true})
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); p.keep.Run(kctx) }()
	// Registered before the sink: the sink closes first (its last commits),
	// then the keeper stops.
	p.onClose(func() { cancel(); <-done })
	p.sink = sink.New(p.store, p.view, p.m, p.log, sink.Options{Tracer: p.tr, Owner: p.keep.Owner()})
	p.onClose(p.sink.Close)
	return nil
}

// rebuildHandler serves /api/admin/rebuild: POST starts a full rebuild of
// the view from MongoDB in the background (202; with ?wait=true it answers
// when done, 200), or answers 409 with the progress of the one running;
// GET tells the progress.
func (p *parts) rebuildHandler() http.HandlerFunc {
	return httpx.RequireAdmin(p.set.AdminToken, p.log, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			st, err := p.view.RebuildState(r.Context())
			if err != nil {
				httpx.WriteError(w, http.StatusServiceUnavailable, err.Error())
				return
			}
			httpx.WriteJSON(w, http.StatusOK, map[string]any{"running": st != nil, "status": st})
			return
		}
		wait := r.URL.Query().Get("wait") == "true"
		out, err := p.keep.StartRebuild()
		if err != nil {
			httpx.WriteError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		// The lease is taken within a round trip: wait for it or the result.
		var o stats.RebuildOutcome
		select {
		case o = <-out:
		case <-time.After(time.Second):
			if !wait {
				st, _ := p.view.RebuildState(r.Context())
				httpx.WriteJSON(w, http.StatusAccepted, map[string]any{"running": true, "status": st})
				return
			}
			select {
			case o = <-out:
			case <-r.Context().Done():
				return // the rebuild goes on
			}
		}
		var running *stats.RebuildRunningError
		if errors.As(o.Err, &running) {
			httpx.WriteJSON(w, http.StatusConflict, map[string]any{"error": "a rebuild is already running", "running": true, "status": running.Status})
			return
		}
		if o.Err != nil {
			httpx.WriteError(w, http.StatusInternalServerError, "rebuild failed: "+o.Err.Error())
			return
		}
		p.log.Info("view rebuilt on request", "remote", r.RemoteAddr, "scanned", o.Result.Scanned, "took", o.Result.Took)
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"scanned": o.Result.Scanned, "counted": o.Result.Counted,
			"total": o.Result.Total, "took_ms": o.Result.Took.Milliseconds()})
	})
}

// runRebuild: recompute the Redis view from MongoDB, showing progress.
func runRebuild(ctx context.Context, set Settings, args []string, stdout, stderr *os.File) error {
	fs := newFlagSet("rebuild", stderr)
	every := fs.Duration("progress", 2*time.Second, "how often to print progress")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(set, stderr).With("part", "rebuild")
	p := newParts(set, log)
	defer p.close()
	if err := p.openStore(ctx, set.MongoURI); err != nil {
		return err
	}
	if err := p.openRedis(ctx, set.RedisURL); err != nil {
		return err
	}
	before, _ := p.view.Total(ctx)
	fmt.Fprintf(stdout, "rebuilding the Redis view from MongoDB (the view counts %d now; it is swapped in at the end)\n", before)
	res, err := p.view.Rebuild(ctx, p.store, stats.RebuildOptions{Owner: "cli", Every: *every, Progress: func(pr stats.Progress) {
		fmt.Fprintf(stdout, "  %s\n", pr)
		log.Info("rebuilding the view", "progress", pr.String())
	}})
	var running *stats.RebuildRunningError
	if errors.As(err, &running) {
		fmt.Fprintf(stdout, "%v; following it to its end\n", err)
		return followRebuild(ctx, p, *every, stdout)
	}
	if err != nil {
		return err
	}
	rate := 0.0
	if s := res.Took.Seconds(); s > 0 {
		rate = float64(res.Scanned) / s
	}
	fmt.Fprintf(stdout, "done in %v: scanned %d records (%.0f/s), %d counted by the scan, %d by live commits meanwhile; view total %d (was %d)\n",
		res.Took.Round(time.Millisecond), res.Scanned, rate, res.Counted, res.Total-res.Counted, res.Total, before)
	return nil
}

// followRebuild prints the progress of a rebuild another process runs, until
// it ends.
func followRebuild(ctx context.Context, p *parts, every time.Duration, stdout *os.File) error {
	for {
		st, err := p.view.RebuildState(ctx)
		if err != nil {
			return err
		}
		if st == nil {
			total, err := p.view.Total(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "done: view total %d\n", total)
			return nil
		}
		fmt.Fprintf(stdout, "  %d of about %d records scanned (since %s)\n", st.Scanned, st.Expected, st.StartedAt.Format(time.TimeOnly))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(every, time.Second)):
		}
	}
}
