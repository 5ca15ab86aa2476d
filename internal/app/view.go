package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/vacunometro/vacunometro/internal/httpx"
	"github.com/vacunometro/vacunometro/internal/stats"
)

// This file is the one place the processes repair the Redis view: on start
// (startViewRepair), on request (POST /api/admin/rebuild) and as a command
// (`vacunometro rebuild`).

// startViewRepair brings the view up to date with MongoDB when it is empty
// or behind (after a wipe or a crash). It needs the store and Redis, and
// runs before the sink is opened.
//
// A wiped (empty) or ahead view is rebuilt before the process serves, so
// that its first answers are right. A view merely behind (a crash between
// MongoDB and Redis, or just records in flight under load) is caught up in
// the background: counting is idempotent, so this is safe under live
// traffic, and a restart does not wait for a scan of the whole collection.
// The background catch-up stops in the stopViewRepair phase.
func (c *clients) startViewRepair(ctx context.Context) error {
	view := c.statsView()
	state, viewTotal, stored, err := view.Check(ctx, c.store)
	if err != nil {
		return fmt.Errorf("check the Redis view against MongoDB: %w", err)
	}
	switch state {
	case stats.Empty, stats.Ahead:
		start := time.Now()
		res, err := view.Rebuild(ctx, c.store, state == stats.Ahead)
		if err != nil {
			return fmt.Errorf("rebuild the Redis view: %w", err)
		}
		c.log.Info("rebuilt the Redis view from MongoDB", "scanned", res.Scanned, "counted", res.Counted, "reset", res.Reset, "took", time.Since(start))
	case stats.Behind:
		c.log.Info("the Redis view is behind MongoDB: catching up in the background", "counted", viewTotal, "stored", stored)
		bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			res, err := view.Rebuild(bctx, c.store, false)
			if err != nil {
				if bctx.Err() == nil {
					c.log.Error("catch up the Redis view", "err", err)
				}
				return
			}
			c.log.Info("the Redis view caught up with MongoDB", "scanned", res.Scanned, "counted", res.Counted)
		}()
		c.onClose(stopViewRepair, func() { cancel(); <-done })
	}
	return nil
}

// registerViewAdmin adds POST /api/admin/rebuild to mux: recompute the view
// from MongoDB, behind the admin token.
func (c *clients) registerViewAdmin(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/admin/rebuild", httpx.RequireAdmin(c.set.AdminToken, c.log, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		res, err := c.statsView().Rebuild(r.Context(), c.store, true)
		if err != nil {
			httpx.WriteError(w, http.StatusInternalServerError, "rebuild failed: "+err.Error())
			return
		}
		c.log.Info("view rebuilt on request", "remote", r.RemoteAddr, "scanned", res.Scanned, "took", time.Since(start))
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"scanned": res.Scanned, "counted": res.Counted, "took_ms": time.Since(start).Milliseconds()})
	}))
}

// runRebuild: recompute the Redis view from MongoDB.
func runRebuild(ctx context.Context, set Settings, args []string, stdout, stderr *os.File) error {
	fs := newFlagSet("rebuild", stderr)
	full := fs.Bool("full", true, "delete the view first and recompute it whole (false: only add what is missing)")
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
	n, err := c.store.Count(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rebuilding the Redis view from %d records in MongoDB (full=%v)...\n", n, *full)
	start := time.Now()
	view := c.statsView()
	res, err := view.Rebuild(ctx, c.store, *full)
	if err != nil {
		return err
	}
	total, _ := view.Total(ctx)
	fmt.Fprintf(stdout, "done in %v: scanned %d, newly counted %d, view total %d\n", time.Since(start).Round(time.Millisecond), res.Scanned, res.Counted, total)
	return nil
}
