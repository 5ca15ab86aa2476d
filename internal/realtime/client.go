package realtime

import (
	"errors"
	"time"

	"github.com/gorilla/websocket"
)

// client is one WebSocket connection: a reader goroutine that only watches
// for pongs and close frames, and a writer (the ServeHTTP goroutine).
type client struct {
	hub     *Hub
	conn    *websocket.Conn
	send    chan *frame
	done    chan struct{} // closed when the reader ends
	readErr error
}

// enqueue queues f, skipping the oldest queued frame when the queue is full.
// It never blocks.
func (c *client) enqueue(f *frame) {
	for {
		select {
		case c.send <- f:
			return
		default:
		}
		select {
		case <-c.send:
			c.hub.m.skipped.Inc()
		default:
		}
	}
}

func (c *client) readLoop() {
	h := c.hub
	c.conn.SetReadLimit(h.cfg.MaxMessageSize)
	_ = c.conn.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	})
	var err error
	for {
		if _, _, err = c.conn.NextReader(); err != nil {
			break
		}
		// Client frames carry nothing; any frame shows the client is alive.
		_ = c.conn.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	}
	c.readErr = err
	close(c.done)
}

func (c *client) writeLoop() {
	h := c.hub
	ping := time.NewTicker(h.cfg.PingInterval)
	defer func() {
		ping.Stop()
		h.unregister(c)
		_ = c.conn.Close()
		<-c.done
	}()
	deadline := func() time.Time { return time.Now().Add(h.cfg.WriteTimeout) }
	for {
		select {
		case f := <-c.send:
			_ = c.conn.SetWriteDeadline(deadline())
			if err := c.conn.WritePreparedMessage(f.pm); err != nil {
				c.writeFailed(err)
				return
			}
			h.m.sent.Inc()
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, deadline()); err != nil {
				c.writeFailed(err)
				return
			}
		case <-c.done:
			var ne interface{ Timeout() bool }
			if errors.As(c.readErr, &ne) && ne.Timeout() {
				c.drop("pong", c.readErr)
			}
			return
		case <-h.closing:
			_ = c.conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), deadline())
			// Give the client a moment to answer the close frame.
			select {
			case <-c.done:
			case <-time.After(min(h.cfg.WriteTimeout, time.Second)):
			}
			return
		}
	}
}

// writeFailed ends a client whose write failed: a timeout is a drop (it
// could not keep up); anything else means the client is already gone.
func (c *client) writeFailed(err error) {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		c.drop("write", err)
	}
}

func (c *client) drop(reason string, err error) {
	c.hub.m.droppedBy.WithLabelValues(reason).Inc()
	c.hub.log.Debug("realtime: client dropped", "reason", reason, "remote", c.conn.RemoteAddr().String(), "err", err)
}
