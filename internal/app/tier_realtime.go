package app

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/vacunometro/vacunometro/internal/realtime"
	"github.com/vacunometro/vacunometro/internal/schema"
	"github.com/vacunometro/vacunometro/internal/stats"
)

// realtimeTier pushes the statistics over WebSocket.
type realtimeTier struct {
	hub *realtime.Hub
}

// buildRealtime starts the hub on the view's change channel (Redis must
// be open). It stops accepting clients in the stopAccepting phase.
func buildRealtime(ctx context.Context, c *clients) (*realtimeTier, error) {
	view := c.statsView()
	hub, err := realtime.New(realtime.Config{
		Source:         snapshotSource(view.Snapshot),
		Redis:          c.rdb,
		Channel:        schema.ChangedChannel,
		AllowedOrigins: c.set.origins(),
		Logger:         c.log.With("part", "realtime"),
		Registerer:     c.m.Registry,
	})
	if err != nil {
		return nil, err
	}
	hctx, stopHub := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(hctx) }()
	c.onClose(stopAccepting, func() {
		_ = hub.Close()
		stopHub()
		<-done
	})
	return &realtimeTier{hub: hub}, nil
}

// register adds GET /ws and GET /api/stats.
func (t *realtimeTier) register(mux *http.ServeMux, c *clients) {
	mux.Handle("GET /ws", t.hub)
	c.registerStats(mux)
}

// snapshotSource hands the hub the view's snapshot as the dashboard reads
// it, and as its key the same snapshot without its generation time (which
// changes on every read): equal keys, same data.
func snapshotSource(read func(context.Context) (*stats.Snapshot, error)) realtime.Source {
	return func(ctx context.Context) (realtime.Snapshot, error) {
		s, err := read(ctx)
		if err != nil {
			return realtime.Snapshot{}, err
		}
		data, err := json.Marshal(s)
		if err != nil {
			return realtime.Snapshot{}, err
		}
		s.GeneratedAt = time.Time{}
		key, err := json.Marshal(s)
		if err != nil {
			return realtime.Snapshot{}, err
		}
		return realtime.Snapshot{Data: data, Key: key}, nil
	}
}
