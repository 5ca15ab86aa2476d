package stats

import (
	"context"
	"sync"
	"time"
)

// leaseMargin is how long before its heartbeat key can expire in Redis an
// owner cuts off its own inserts: it covers a late timer on a busy machine
// and the tail of an insert MongoDB is still applying when the client gives
// up.
const leaseMargin = 1500 * time.Millisecond

// A Lease is a process's right to insert batches whose intents it wrote.
//
// Every successful heartbeat (the keeper's, every HeartbeatTTL/4, and the
// one that goes with each intent) extends it to the time the heartbeat was
// sent plus HeartbeatTTL minus leaseMargin. Redis set the key's expiry no
// earlier than that send, so the key outlives the lease by at least the
// margin. When no heartbeat succeeds in time, the lease lapses and cancels
// Context: every insert begun under it is cut off. So once an owner's
// heartbeat key is gone, none of its inserts can still run, and the repair
// may count its intents at once, without waiting out InsertDeadline.
type Lease struct {
	owner string

	mu     sync.Mutex
	until  time.Time // monotonic
	ctx    context.Context
	cancel context.CancelFunc
	timer  *time.Timer
	done   bool // stopped for good
}

// NewLease returns owner's lease, lapsed until its first heartbeat.
func NewLease(owner string) *Lease {
	l := &Lease{owner: owner}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.cancel()
	return l
}

// Owner is the id the lease heartbeats under.
func (l *Lease) Owner() string { return l.owner }

// Context is done when the lease lapses: derive inserts from it (see
// context.AfterFunc). While the lease is lapsed it is already done.
func (l *Lease) Context() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ctx
}

// Until is when the lease lapses unless renewed (zero before the first
// heartbeat).
func (l *Lease) Until() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until
}

// renewed extends the lease after a heartbeat sent at sent succeeded.
func (l *Lease) renewed(sent time.Time) {
	until := sent.Add(HeartbeatTTL - leaseMargin)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done || !until.After(l.until) {
		return
	}
	l.until = until
	if l.ctx.Err() != nil { // lapsed: a new term
		l.ctx, l.cancel = context.WithCancel(context.Background())
	}
	wait := time.Until(until)
	if l.timer == nil {
		l.timer = time.AfterFunc(wait, l.expire)
	} else {
		l.timer.Reset(wait)
	}
}

// expire cancels the lease's context if it was not renewed meanwhile.
func (l *Lease) expire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if wait := time.Until(l.until); wait > 0 {
		l.timer.Reset(wait)
		return
	}
	l.cancel()
}

// Stop cancels the lease for good (the process is stopping).
func (l *Lease) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
	}
	l.done = true
	l.until = time.Time{}
	l.cancel()
}
