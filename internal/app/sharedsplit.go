package app

import (
	"context"
	"log/slog"

	"github.com/vacunometro/vacunometro/internal/ingest"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/split"
	"github.com/vacunometro/vacunometro/internal/stats"
)

// startSharedSplit publishes the configured weights as the next version of
// the split all instances share (in Redis, where the dashboard reads it),
// and keeps splitter in step with changes made elsewhere until follow ends.
func startSharedSplit(ctx, follow context.Context, p *parts, splitter *split.Splitter, weights split.Weights, known []string, log *slog.Logger) *split.Shared {
	shared := split.NewShared(p.rdb, stats.ChangedChannel, "split")
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
func idClaims(p *parts) ingest.IDClaims {
	if p.rdb == nil {
		return nil
	}
	return ingest.NewRedisIDClaims(p.rdb, 0)
}
