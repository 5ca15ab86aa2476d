package app

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/vacunometro/vacunometro/internal/realtime"
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
		Source: func(ctx context.Context) ([]byte, error) {
			s, err := view.Snapshot(ctx)
			if err != nil {
				return nil, err
			}
			return json.Marshal(s)
		},
		Redis:          c.rdb,
		Channel:        stats.ChangedChannel,
		AllowedOrigins: c.set.origins(),
		Unchanged:      realtime.IgnoreKeys("generated_at"),
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
