package app

import (
	"context"
	"log/slog"

	"github.com/vacunometro/vacunometro/internal/ingest"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/schema"
	"github.com/vacunometro/vacunometro/internal/split"
)

// startSharedSplit joins the split that the instances configured with the
// same weights share (in Redis; the dashboard shows the last change made)
// and keeps splitter in step with changes made
// elsewhere until follow ends. With adopt (an instance of a fleet: the
// ingest tier), a split already shared wins over the configured weights,
// so that an instance started by autoscaling does not undo a change made
// at run time; the configured weights are published only when none is
// shared yet. Without adopt (`up`, one process), the configured weights
// are published as the next version.
func startSharedSplit(ctx, follow context.Context, c *clients, splitter *split.Splitter, weights split.Weights, known []string, adopt bool, log *slog.Logger) *split.Shared {
	// The group: instances configured alike share a split.
	shared := split.NewShared(c.rdb, schema.ChangedChannel, "split", weights.String())
	if adopt {
		ok, err := shared.Adopt(ctx, splitter, known)
		if err != nil {
			log.Warn("read the shared split; publishing the configured one", "err", err)
		}
		if ok {
			w, v := splitter.Current()
			log.Info("split: the shared one applies", "split", w.String(), "version", v, "configured", weights.String())
			go shared.Follow(follow, splitter, known, 0, log)
			return shared
		}
	}
	if v, err := shared.Publish(ctx, weights, route.All); err != nil {
		log.Warn("publish split", "err", err)
	} else {
		splitter.SetVersion(weights, v)
	}
	go shared.Follow(follow, splitter, known, 0, log)
	return shared
}

// idClaims returns the check for client ids reused with other data, kept in
// Redis (none without Redis).
func idClaims(c *clients) ingest.IDClaims {
	if c.rdb == nil {
		return nil
	}
	return ingest.NewRedisIDClaims(c.rdb, 0)
}
