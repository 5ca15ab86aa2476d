package realtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/backoff"
)

// subscribe keeps a subscription to the change channel, re-subscribing with
// back-off, until ctx ends.
func (h *Hub) subscribe(ctx context.Context) {
	pause := &backoff.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: true}
	for ctx.Err() == nil {
		err := h.subscribeOnce(ctx, pause.Reset)
		h.subscribedOK.Store(false)
		if ctx.Err() != nil {
			return
		}
		d := pause.Next()
		h.log.Warn("realtime: redis subscription lost; retrying", "channel", h.cfg.Channel, "err", err, "retry_in", d)
		if !backoff.Sleep(ctx, d) {
			return
		}
	}
}

// subscribeOnce subscribes, pushes a fresh snapshot once the subscription is
// confirmed, and forwards notices until the connection fails.
func (h *Hub) subscribeOnce(ctx context.Context, up func()) error {
	ps := h.cfg.Redis.Subscribe(ctx, h.cfg.Channel)
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer func() {
		stop()
		_ = ps.Close()
	}()
	confirmed := false
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, h.healthEvery)
		if err != nil {
			var ne interface{ Timeout() bool }
			if confirmed && !pinged && errors.As(err, &ne) && ne.Timeout() {
				// Quiet channel: check that the connection is alive.
				if err := ps.Ping(ctx); err != nil {
					return fmt.Errorf("ping: %w", err)
				}
				pinged = true
				continue
			}
			return fmt.Errorf("receive: %w", err)
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && !confirmed {
				confirmed = true
				h.subscribedOK.Store(true)
				h.nSubscribes.Add(1)
				up()
				h.log.Info("realtime: subscribed to change notices", "channel", h.cfg.Channel)
				// Changes may have been missed while unsubscribed.
				h.Notify()
			}
		case *redis.Message:
			h.Notify()
		case *redis.Pong:
		}
	}
}
