// Package batch provides group commit: concurrent callers' items are gathered
// into shared writes. A batch is flushed as soon as a flush slot is free, so
// at low load an item waits for nothing, and under load items accumulate
// while the slots are busy and share the next write (up to MaxItems).
// Interval spaces the flushes under load, for writes whose fixed cost
// dwarfs their cost per item (an InsertMany into FerretDB).
package batch

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("batch: closed")

// Flush writes one batch. It gets its own context (with FlushTimeout), not
// the callers', so that a caller who gives up does not abort a shared write.
type Flush[T any] func(ctx context.Context, items []T) error

// Options tune a Batcher.
type Options struct {
	MaxItems    int // flush when this many items wait (default 500)
	MaxInFlight int // concurrent flushes (default 1)
	// Interval, when set, spaces flushes under load: a flush starts no
	// sooner than Interval after the one before it started, unless
	// MaxItems wait or an urgent submission (SubmitNow) does. At low load
	// the last flush is long past and nothing waits; under load each flush
	// carries what arrived in Interval (or since the last slot freed, if
	// that is longer), instead of what arrived while a slot was busy.
	Interval     time.Duration
	FlushTimeout time.Duration // per flush (default 30s)
	QueueSize    int           // pending submissions before Submit blocks (default 4096)
}

// job is one flush handed to a flush worker.
type job[T any] struct {
	group []*pending[T]
	items []T
}

type pending[T any] struct {
	ctx    context.Context // the caller's: once it is done, nobody waits for the items
	items  []T
	done   chan error
	urgent bool // flush as soon as a slot is free, whatever Interval says
}

// Batcher gathers items from concurrent Submit calls into shared flushes.
type Batcher[T any] struct {
	flush Flush[T]
	opts  Options
	in    chan *pending[T]
	sem   chan struct{}
	// jobs feeds the MaxInFlight flush workers: long-lived goroutines, so
	// that a flush does not start a goroutine whose stack grows again
	// through the whole client stack (a goroutine per flush cost up to
	// 8% of up's CPU in stack growth under single-record load).
	jobs  chan job[T]
	wg    sync.WaitGroup // the loop and the flush workers
	mu    sync.RWMutex   // guards closed against Submit
	close sync.Once
	// closed is read under mu.
	closed bool
}

// New starts a batcher that writes with flush.
func New[T any](flush Flush[T], opts Options) *Batcher[T] {
	if opts.MaxItems <= 0 {
		opts.MaxItems = 500
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 1
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 30 * time.Second
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 4096
	}
	b := &Batcher[T]{
		flush: flush,
		opts:  opts,
		in:    make(chan *pending[T], opts.QueueSize),
		sem:   make(chan struct{}, opts.MaxInFlight),
		jobs:  make(chan job[T], opts.MaxInFlight),
	}
	b.wg.Add(1 + opts.MaxInFlight)
	for range opts.MaxInFlight {
		go b.worker()
	}
	go b.loop()
	return b
}

// Submit adds items to the next batch and waits until that batch is written.
// It returns the flush's error, or ctx's if the caller stops waiting first
// (the items may still be written: callers must be idempotent).
func (b *Batcher[T]) Submit(ctx context.Context, items ...T) error {
	return b.submit(ctx, false, items)
}

// SubmitNow is Submit for a caller whose own client waits on the answer:
// its batch (with whatever else waits) is flushed as soon as a slot is
// free, without waiting for Interval.
func (b *Batcher[T]) SubmitNow(ctx context.Context, items ...T) error {
	return b.submit(ctx, true, items)
}

func (b *Batcher[T]) submit(ctx context.Context, urgent bool, items []T) error {
	if len(items) == 0 {
		return nil
	}
	p := &pending[T]{ctx: ctx, items: items, done: make(chan error, 1), urgent: urgent}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	select {
	case b.in <- p:
		b.mu.RUnlock()
	case <-ctx.Done():
		b.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting items, writes what is queued, and waits for every
// in-flight flush.
func (b *Batcher[T]) Close() {
	b.close.Do(func() {
		b.mu.Lock()
		b.closed = true
		close(b.in)
		b.mu.Unlock()
	})
	b.wg.Wait()
}

// worker runs the flushes it is handed until the loop ends.
func (b *Batcher[T]) worker() {
	defer b.wg.Done()
	for j := range b.jobs {
		ctx, cancel := context.WithTimeout(context.Background(), b.opts.FlushTimeout)
		err := b.flush(ctx, j.items)
		cancel()
		for _, p := range j.group {
			p.done <- err
		}
		<-b.sem
	}
}

func (b *Batcher[T]) loop() {
	defer b.wg.Done()
	// The workers end once the last batch is handed over.
	defer close(b.jobs)
	var last time.Time // when the last flush started
	for {
		first, ok := <-b.in
		if !ok {
			return
		}
		group := []*pending[T]{first}
		count := len(first.items)
		open := true
		// wait is Interval's end, while it applies: nothing urgent waits.
		var wait <-chan time.Time
		var timer *time.Timer
		if !first.urgent && b.opts.Interval > 0 {
			if d := time.Until(last.Add(b.opts.Interval)); d > 0 {
				timer = time.NewTimer(d)
				wait = timer.C
			}
		}
	gather:
		for count < b.opts.MaxItems && open {
			if wait != nil {
				select {
				case p, ok := <-b.in:
					if !ok {
						open = false
						break gather
					}
					group = append(group, p)
					count += len(p.items)
					if p.urgent {
						wait = nil
					}
					continue
				case <-wait:
					wait = nil
				}
			}
			select {
			case p, ok := <-b.in:
				if !ok {
					open = false
					break gather
				}
				group = append(group, p)
				count += len(p.items)
			case b.sem <- struct{}{}:
				last = time.Now()
				b.start(group, count)
				group = nil
				break gather
			}
		}
		if timer != nil {
			timer.Stop()
		}
		if group != nil {
			b.sem <- struct{}{}
			last = time.Now()
			b.start(group, count)
		}
		if !open {
			return
		}
	}
}

// start hands one flush to a worker; the caller holds a slot in b.sem. Submissions
// whose caller gave up while they queued are left out: the caller was told
// it failed and will send them again (a redelivery, a failover), so
// writing them now would only be work done twice, which is what an
// overloaded writer can least afford.
func (b *Batcher[T]) start(group []*pending[T], count int) {
	items := make([]T, 0, count)
	live := group[:0]
	for _, p := range group {
		if err := p.ctx.Err(); err != nil {
			p.done <- err
			continue
		}
		live = append(live, p)
		items = append(items, p.items...)
	}
	group = live
	if len(group) == 0 {
		<-b.sem
		return
	}
	// Never blocks: a slot is held, and jobs has room for every slot.
	b.jobs <- job[T]{group: group, items: items}
}
