package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/vacunometro/vacunometro/internal/httpx"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/store"
)

// This file is the one place the processes keep the Redis view right: in
// the background (startViewRepair), on request (/api/admin/rebuild) and as
// a command (`vacunometro rebuild`).

// startViewRepair starts the view's keeper (internal/stats): it repairs
// batches left uncommitted by a crash and rebuilds a lost or foreign view
// in the background, reading nothing more than a few documents on start,
// so a process is ready in the same time whatever MongoDB holds. It needs
// the store and Redis and runs before the sink is opened (the sink
// heartbeats under the keeper's owner id); it stops in the stopViewRepair
// phase, after the sink's last commits.
func (c *clients) startViewRepair(ctx context.Context) error {
	c.keep = stats.NewKeeper(c.statsView(), c.store, c.log.With("part", "view"), stats.KeeperOptions{AutoRebuild: true})
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); c.keep.Run(kctx) }()
	c.onClose(stopViewRepair, func() { cancel(); <-done })
	go c.checkRepairReads(kctx)
	return nil
}

// checkRepairReads warns, once at start and without holding the start up,
// when the backend would answer the repair's finds by _id by scanning the
// whole records table (FerretDB on PostgreSQL without postgres_index.sql):
// the catch-up after a crash would then cost O(records), not O(missing).
func (c *clients) checkRepairReads(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	p, err := c.store.ExplainIDFind(ctx)
	if err != nil {
		c.log.Debug("could not explain the repair's read", "err", err)
		return
	}
	if p.Scan && p.Cost >= store.ScanCostWarning {
		c.log.Warn("the view's repair would read the whole records table for each id: on FerretDB/PostgreSQL run "+
			"internal/store/postgres_index.sql (psql -v db=MONGODB_DATABASE -f postgres_index.sql) and restart FerretDB",
			"planned_cost", p.Cost)
	}
}

// registerViewAdmin adds /api/admin/rebuild to mux, behind the admin token:
// POST starts a full rebuild of the view from MongoDB in the background
// (202; with ?wait=true it answers when done, 200), or answers 409 with the
// progress of the one running (on any process); GET tells the progress.
func (c *clients) registerViewAdmin(mux *http.ServeMux) {
	h := httpx.RequireAdmin(c.set.AdminToken, c.log, func(w http.ResponseWriter, r *http.Request) {
		view := c.statsView()
		if r.Method == http.MethodGet {
			st, err := view.RebuildState(r.Context())
			if err != nil {
				httpx.WriteError(w, http.StatusServiceUnavailable, err.Error())
				return
			}
			httpx.WriteJSON(w, http.StatusOK, map[string]any{"running": st != nil, "status": st})
			return
		}
		if c.keep == nil {
			httpx.WriteError(w, http.StatusServiceUnavailable, "this process does not keep the view")
			return
		}
		wait := r.URL.Query().Get("wait") == "true"
		out, err := c.keep.StartRebuild()
		if err != nil {
			httpx.WriteError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		var o stats.RebuildOutcome
		select {
		case o = <-out:
		case <-time.After(time.Second):
			if !wait {
				st, _ := view.RebuildState(r.Context())
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
		c.log.Info("view rebuilt on request", "remote", r.RemoteAddr, "scanned", o.Result.Scanned, "took", o.Result.Took)
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"scanned": o.Result.Scanned, "counted": o.Result.Counted,
			"total": o.Result.Total, "took_ms": o.Result.Took.Milliseconds()})
	})
	mux.HandleFunc("POST /api/admin/rebuild", h)
	mux.HandleFunc("GET /api/admin/rebuild", h)
}

// runRebuild: recompute the Redis view from MongoDB, showing progress.
func runRebuild(ctx context.Context, set Settings, args []string, stdout, stderr *os.File) error {
	fs := newFlagSet("rebuild", stderr)
	every := fs.Duration("progress", 2*time.Second, "how often to print progress")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(set, stderr).With("part", "rebuild")
	c := newClients(set, log)
	defer c.close()
	if err := c.openStore(ctx, set.MongoURI); err != nil {
		return err
	}
	if err := c.openRedis(ctx, set.RedisURL); err != nil {
		return err
	}
	return rebuildView(ctx, c, *every, stdout, false)
}

// rebuildView recomputes the view from MongoDB, showing progress. When a
// rebuild runs already it follows it; with again (after a purge: the
// running scan may have read what was deleted) it then rebuilds once more.
func rebuildView(ctx context.Context, c *clients, every time.Duration, stdout *os.File, again bool) error {
	view := c.statsView()
	before, _ := view.Total(ctx)
	fmt.Fprintf(stdout, "rebuilding the Redis view from MongoDB (the view counts %d now; it is swapped in at the end)\n", before)
	res, err := view.Rebuild(ctx, c.store, stats.RebuildOptions{Owner: "cli", Every: every, Progress: func(pr stats.Progress) {
		fmt.Fprintf(stdout, "  %s\n", pr)
		c.log.Info("rebuilding the view", "progress", pr.String())
	}})
	var running *stats.RebuildRunningError
	if errors.As(err, &running) {
		fmt.Fprintf(stdout, "%v; following it to its end\n", err)
		if err := followRebuild(ctx, view, every, stdout); err != nil || !again {
			return err
		}
		return rebuildView(ctx, c, every, stdout, false)
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

// followRebuild prints the progress of a rebuild another process runs,
// until it ends.
func followRebuild(ctx context.Context, view *stats.View, every time.Duration, stdout *os.File) error {
	for {
		st, err := view.RebuildState(ctx)
		if err != nil {
			return err
		}
		if st == nil {
			total, err := view.Total(ctx)
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
