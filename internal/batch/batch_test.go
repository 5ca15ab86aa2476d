package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEveryItemFlushedOnceAndCallersSeeTheirBatchResult(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]int{}
	var flushes atomic.Int32
	release := make(chan struct{})
	b := New(func(ctx context.Context, items []int) error {
		n := flushes.Add(1)
		if n == 1 {
			<-release // hold the only slot so the rest pile up
		}
		mu.Lock()
		defer mu.Unlock()
		for _, it := range items {
			seen[it]++
		}
		return nil
	}, Options{MaxItems: 1000, MaxInFlight: 1})
	defer b.Close()

	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- b.Submit(context.Background(), i*2, i*2+1)
		}(i)
		if i == 0 {
			time.Sleep(20 * time.Millisecond) // let the first flush start
		}
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 400 {
		t.Fatalf("flushed %d distinct items, want 400", len(seen))
	}
	for k, v := range seen {
		if v != 1 {
			t.Fatalf("item %d flushed %d times", k, v)
		}
	}
	if f := flushes.Load(); f > 10 {
		t.Fatalf("%d flushes for 200 submissions while the slot was busy: no group commit", f)
	}
}

func TestFlushErrorReachesEveryCallerInTheBatch(t *testing.T) {
	boom := errors.New("boom")
	b := New(func(ctx context.Context, items []string) error { return boom }, Options{})
	defer b.Close()
	if err := b.Submit(context.Background(), "a"); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}

func TestMaxItemsSplitsBatches(t *testing.T) {
	var sizes []int
	var mu sync.Mutex
	gate := make(chan struct{})
	b := New(func(ctx context.Context, items []int) error {
		<-gate
		mu.Lock()
		sizes = append(sizes, len(items))
		mu.Unlock()
		return nil
	}, Options{MaxItems: 10, MaxInFlight: 1})
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); _ = b.Submit(context.Background(), i) }(i)
	}
	time.Sleep(30 * time.Millisecond)
	close(gate)
	wg.Wait()
	b.Close()
	total := 0
	for _, s := range sizes {
		total += s
		if s > 10 {
			t.Fatalf("batch of %d > MaxItems 10", s)
		}
	}
	if total != 50 {
		t.Fatalf("flushed %d items, want 50", total)
	}
}

func TestCloseFlushesQueuedAndRefusesNew(t *testing.T) {
	var n atomic.Int32
	b := New(func(ctx context.Context, items []int) error {
		time.Sleep(5 * time.Millisecond)
		n.Add(int32(len(items)))
		return nil
	}, Options{MaxInFlight: 2})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _ = b.Submit(context.Background(), 1) }()
	}
	wg.Wait()
	b.Close()
	if n.Load() != 20 {
		t.Fatalf("flushed %d, want 20", n.Load())
	}
	if err := b.Submit(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close = %v, want ErrClosed", err)
	}
}

func TestCallerContextCancelDoesNotAbortSharedFlush(t *testing.T) {
	started := make(chan struct{})
	var flushCtxErr atomic.Value
	b := New(func(ctx context.Context, items []int) error {
		close(started)
		time.Sleep(30 * time.Millisecond)
		flushCtxErr.Store(ctx.Err() == nil)
		return nil
	}, Options{})
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	if err := b.Submit(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	b.Close()
	if ok, _ := flushCtxErr.Load().(bool); !ok {
		t.Fatal("the shared flush saw the caller's cancellation")
	}
}

func TestItemsWhoseCallerGaveUpWhileQueuedAreNotWritten(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var written []int
	b := New(func(ctx context.Context, items []int) error {
		if items[0] == 0 {
			<-release // the one slot is busy
		}
		mu.Lock()
		written = append(written, items...)
		mu.Unlock()
		return nil
	}, Options{MaxInFlight: 1})
	defer b.Close()
	first := make(chan error, 1)
	go func() { first <- b.Submit(context.Background(), 0) }()
	time.Sleep(20 * time.Millisecond) // item 0 holds the slot
	// These queue behind it; the caller of 1 and 2 gives up meanwhile.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- b.Submit(ctx, 1, 2) }()
	kept := make(chan error, 1)
	go func() { kept <- b.Submit(context.Background(), 3) }()
	if err := <-gaveUp; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the caller that gave up got %v", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-kept; err != nil {
		t.Fatal(err)
	}
	b.Close()
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(written) != "[0 3]" {
		t.Fatalf("written %v, want [0 3]: the abandoned 1 and 2 must not be written", written)
	}
}

// recorder is a flush that keeps each batch and when it started.
type recorder struct {
	mu      sync.Mutex
	batches [][]string
	at      []time.Time
}

func (r *recorder) flush(ctx context.Context, items []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, append([]string(nil), items...))
	r.at = append(r.at, time.Now())
	return nil
}

func (r *recorder) get() ([][]string, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]string(nil), r.batches...), append([]time.Time(nil), r.at...)
}

// names returns n distinct items.
func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint("r", i)
	}
	return out
}

// submitAll submits each item from its own goroutine and waits for all.
func submitAll(t *testing.T, submit func(context.Context, ...string) error, items ...string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(items))
	for _, it := range items {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- submit(context.Background(), it) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// The Interval is long here (a second) so that waiting for it and not
// waiting cannot be confused on a loaded machine.
func TestIntervalGathersUnderLoadAndWaitsForNothingWhenIdle(t *testing.T) {
	const interval = time.Second
	r := &recorder{}
	b := New(r.flush, Options{MaxItems: 1000, MaxInFlight: 2, Interval: interval})
	defer b.Close()

	start := time.Now()
	if err := b.Submit(context.Background(), "first"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > interval/2 {
		t.Fatalf("a submission to an idle batcher waited %v: the interval must apply only after a flush", took)
	}
	// Right after a flush: 40 submissions, each from its own caller, share
	// one flush, which starts once the interval has passed.
	items := names(40)
	submitAll(t, b.Submit, items...)
	batches, at := r.get()
	if len(batches) != 2 || len(batches[1]) != len(items) {
		t.Fatalf("flushes %v: want the first alone, then all %d in one", batches, len(items))
	}
	if gap := at[1].Sub(at[0]); gap < interval*9/10 {
		t.Fatalf("the second flush started %v after the first, within the interval of %v", gap, interval)
	}
}

func TestSubmitNowFlushesWhatWaitsWithoutTheInterval(t *testing.T) {
	const interval = 2 * time.Second
	r := &recorder{}
	b := New(r.flush, Options{MaxItems: 1000, MaxInFlight: 1, Interval: interval})
	defer b.Close()
	if err := b.Submit(context.Background(), "first"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); submitAll(t, b.Submit, "queued-1", "queued-2") }()
	time.Sleep(100 * time.Millisecond) // they wait for the interval
	submitAll(t, b.SubmitNow, "urgent")
	wg.Wait()
	if took := time.Since(start); took > interval/2 {
		t.Fatalf("an urgent submission waited %v for an interval of %v", took, interval)
	}
	batches, _ := r.get()
	if len(batches) != 2 || len(batches[1]) != 3 {
		t.Fatalf("flushes %v: want the urgent one to take the waiting ones along", batches)
	}
}

func TestIntervalNeverHoldsAFullBatch(t *testing.T) {
	const interval = 2 * time.Second
	r := &recorder{}
	b := New(r.flush, Options{MaxItems: 10, MaxInFlight: 1, Interval: interval})
	defer b.Close()
	if err := b.Submit(context.Background(), "first"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	items := names(10)
	submitAll(t, b.Submit, items...)
	if took := time.Since(start); took > interval/2 {
		t.Fatalf("a full batch (MaxItems) waited %v for the interval", took)
	}
	if batches, _ := r.get(); len(batches) != 2 || len(batches[1]) != 10 {
		t.Fatalf("flushes %v: want the 10 together", batches)
	}
}
