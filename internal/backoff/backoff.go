// Package backoff provides the one retry pause used by the routes' clients
// and workers and the realtime subscription: doubling from Min to Max,
// reset after a success, optionally spread by ±20% (Jitter) so that many
// instances do not retry in step.
package backoff

import (
	"context"
	"time"
)

// Backoff is a doubling pause. The zero value is not usable: set Min and Max.
type Backoff struct {
	Min, Max time.Duration
	Jitter   bool // spread each pause by ±20%
	next     time.Duration
}

// New returns a Backoff from min to max.
func New(min, max time.Duration) *Backoff { return &Backoff{Min: min, Max: max} }

// Next returns the pause to wait now and doubles the one after it (up to Max).
func (b *Backoff) Next() time.Duration {
	if b.next < b.Min {
		b.next = b.Min
	}
	d := b.next
	b.next = min(b.next*2, b.Max)
	if b.Jitter {
		d = jitter(d)
	}
	return d
}

// Reset starts again from Min (after a success).
func (b *Backoff) Reset() { b.next = b.Min }

// Wait sleeps for Next() or until ctx ends; it reports whether the pause
// ran its course (false: ctx ended).
func (b *Backoff) Wait(ctx context.Context) bool {
	return Sleep(ctx, b.Next())
}

// Sleep waits d or until ctx ends; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func jitter(d time.Duration) time.Duration {
	// ±20% without global random state: derive it from the clock.
	n := time.Now().UnixNano()
	return d*8/10 + time.Duration(n%int64(d*4/10+1))
}
