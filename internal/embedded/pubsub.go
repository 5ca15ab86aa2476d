//go:build !noembed

package embedded

import (
	"fmt"

	"cloud.google.com/go/pubsub/v2/pstest"
)

// PubSub is the in-process Pub/Sub fake (pstest) for the one-command mode.
// It keeps messages in memory only.
type PubSub struct {
	Addr string
	srv  *pstest.Server
}

// StartPubSub serves the Pub/Sub API on a free loopback port.
func StartPubSub() (*PubSub, error) {
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	if srv == nil {
		return nil, fmt.Errorf("pstest: could not start")
	}
	return &PubSub{Addr: srv.Addr, srv: srv}, nil
}

// Stop ends the server.
func (p *PubSub) Stop() { _ = p.srv.Close() }

// Pending is the number of published messages not yet acknowledged.
func (p *PubSub) Pending() int {
	n := 0
	for _, m := range p.srv.Messages() {
		if m.Acks == 0 {
			n++
		}
	}
	return n
}
