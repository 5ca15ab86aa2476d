package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/schema"
	"github.com/vacunometro/vacunometro/internal/store"
)

// Source is the system of record the view is built and repaired from
// (MongoDB, internal/store). Every method but ScanStored costs the same
// whatever the collection holds.
type Source interface {
	Epoch(ctx context.Context) (epoch string, created bool, err error)
	ScanStored(ctx context.Context, batchSize int, fn func([]store.Stored) error) error
	LookupBatch(ctx context.Context, batch string, ids []string) ([]store.Stored, error)
	SaveFigures(ctx context.Context, f store.Figures) error
	LoadFigures(ctx context.Context) (store.Figures, bool, error)
}

// RebuildResult says what a full rebuild did.
type RebuildResult struct {
	Scanned int64         // documents read from the source
	Counted int64         // records the scan counted (the rest were counted by commits meanwhile)
	Total   int64         // the view's total after the swap
	Took    time.Duration // from the lease to the swap
	// Provisional is set when the view had been lost: until the swap, the
	// public figures were the last saved ones (at this time) plus what was
	// counted since.
	Provisional *time.Time
}

// Progress is a running rebuild's progress.
type Progress struct {
	Scanned, Expected int64
	Elapsed           time.Duration
	Rate              float64       // documents per second so far
	Left              time.Duration // estimated, 0 when unknown
}

func (p Progress) String() string {
	s := fmt.Sprintf("%d", p.Scanned)
	if p.Expected > 0 {
		s += fmt.Sprintf(" of about %d (%.1f%%)", p.Expected, 100*float64(p.Scanned)/float64(p.Expected))
	}
	s += fmt.Sprintf(" records, %.0f/s, %s", p.Rate, p.Elapsed.Round(time.Second))
	if p.Left > 0 {
		s += fmt.Sprintf(", about %s left", p.Left.Round(time.Second))
	}
	return s
}

// RebuildRunningError says a rebuild is already running (on any process).
type RebuildRunningError struct {
	Status *RebuildStatus // nil when it has not published its state yet
}

func (e *RebuildRunningError) Error() string {
	if e.Status == nil {
		return "stats: a rebuild is already running"
	}
	return fmt.Sprintf("stats: a rebuild is already running since %s: %d of about %d records scanned",
		e.Status.StartedAt.Format(time.RFC3339), e.Status.Scanned, e.Status.Expected)
}

// RebuildOptions tune a rebuild.
type RebuildOptions struct {
	Owner     string         // who holds the lease (for the logs and the status)
	BatchSize int            // documents per read and per classification (default 1000)
	Every     time.Duration  // how often Progress is called and the status published (default 2s)
	Progress  func(Progress) // optional
}

// lease timing: a rebuild renews its lease every leaseRenew; a dead
// rebuilder's lease lapses after leaseTTL and its state is dropped.
const (
	leaseTTL   = 30 * time.Second
	leaseRenew = 5 * time.Second
)

var renewLua = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`)

// abandonLua drops a rebuild's state; with ARGV[1] set, only the holder of
// the lease may (its own failure); without, only when no one holds it (a dead
// rebuilder's leftovers).
var abandonLua = redis.NewScript(`
local holder = redis.call('GET', KEYS[1])
if ARGV[1] ~= '' then
  if holder ~= ARGV[1] then return 0 end
elseif holder then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
return 1`)

func (v *View) abandonKeys() []string {
	return []string{schema.RebuildLeaseKey, schema.RebuildKey, schema.AggNewKey, schema.DaysNewKey, schema.AggDeltaKey, schema.DaysDeltaKey, schema.AppliedKey}
}

// DropStaleRebuild removes the state of a rebuild whose process died (its
// lease lapsed), so that commits stop writing its delta. It reports whether
// there was one.
func (v *View) DropStaleRebuild(ctx context.Context) (bool, error) {
	n, err := abandonLua.Run(ctx, v.rdb, v.abandonKeys(), "").Int()
	if err != nil {
		return false, fmt.Errorf("stats: drop stale rebuild: %w", err)
	}
	return n == 1, nil
}

// RebuildState returns the running rebuild's status, or nil.
func (v *View) RebuildState(ctx context.Context) (*RebuildStatus, error) {
	m, err := v.rdb.HGetAll(ctx, schema.RebuildKey).Result()
	if err != nil {
		return nil, fmt.Errorf("stats: rebuild state: %w", err)
	}
	return rebuildStatus(m), nil
}

func rebuildStatus(m map[string]string) *RebuildStatus {
	started, _ := strconv.ParseInt(m["started"], 10, 64)
	if started == 0 {
		return nil
	}
	st := &RebuildStatus{StartedAt: time.UnixMilli(started).UTC()}
	st.Scanned, _ = strconv.ParseInt(m["scanned"], 10, 64)
	st.Expected, _ = strconv.ParseInt(m["expected"], 10, 64)
	if p, _ := strconv.ParseInt(m["provisional_at"], 10, 64); p > 0 {
		t := time.UnixMilli(p).UTC()
		st.ProvisionalAsOf = &t
	}
	return st
}

// Rebuild recomputes the whole view from src without a gap: it scans every
// stored record into new keys while commits go on, then swaps the scanned
// figures (plus what was committed meanwhile) in at once. Readers see the
// old figures until the swap; when the view had been lost with Redis, they
// see the figures last saved outside Redis (labelled with their time) plus
// what was counted since, never a count from zero. One rebuild runs at a
// time across all processes (a lease in Redis): a second caller gets a
// *RebuildRunningError with the first one's progress.
func (v *View) Rebuild(ctx context.Context, src Source, opts RebuildOptions) (RebuildResult, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.Every <= 0 {
		opts.Every = 2 * time.Second
	}
	if opts.Owner == "" {
		opts.Owner = newID()
	}
	owner := opts.Owner + ":" + newID()
	start := v.now()
	ok, err := v.rdb.SetNX(ctx, schema.RebuildLeaseKey, owner, leaseTTL).Result()
	if err != nil {
		return RebuildResult{}, fmt.Errorf("stats: rebuild lease: %w", err)
	}
	if !ok {
		st, _ := v.RebuildState(ctx)
		return RebuildResult{}, &RebuildRunningError{Status: st}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(leaseRenew)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				n, err := renewLua.Run(ctx, v.rdb, []string{schema.RebuildLeaseKey}, owner, leaseTTL.Milliseconds()).Int()
				if err == nil && n == 0 {
					cancel(errors.New("stats: rebuild lease lost"))
					return
				}
			}
		}
	}()
	res, err := v.rebuild(ctx, src, opts, owner, start)
	cancel(nil)
	<-renewed
	if err != nil {
		if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
			err = fmt.Errorf("%w (%v)", err, c)
		}
		_, _ = abandonLua.Run(context.WithoutCancel(ctx), v.rdb, v.abandonKeys(), owner).Result()
		return res, err
	}
	return res, nil
}

func (v *View) rebuild(ctx context.Context, src Source, opts RebuildOptions, owner string, start time.Time) (RebuildResult, error) {
	var res RebuildResult
	epoch, _, err := src.Epoch(ctx)
	if err != nil {
		return res, fmt.Errorf("stats: rebuild: %w", err)
	}
	pipe := v.rdb.Pipeline()
	epochCmd := pipe.Get(ctx, schema.EpochKey)
	aggCmd := pipe.HMGet(ctx, schema.AggKey, "total", "provisional_at")
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return res, fmt.Errorf("stats: rebuild: read view: %w", err)
	}
	viewEpoch := epochCmd.Val()
	var viewTotal int64
	seeded := false
	if vals := aggCmd.Val(); len(vals) == 2 {
		if s, ok := vals[0].(string); ok {
			viewTotal, _ = strconv.ParseInt(s, 10, 64)
		}
		seeded = vals[1] != nil
	}
	expected := viewTotal
	state := map[string]any{"started": start.UnixMilli(), "owner": owner, "scanned": 0}
	var seed map[string]int64
	if viewEpoch == "" && !seeded {
		// The view was lost with Redis: show the figures last saved outside
		// it, plus what is counted from now on, until the swap.
		f, ok, err := src.LoadFigures(ctx)
		if err != nil {
			return res, fmt.Errorf("stats: rebuild: %w", err)
		}
		if ok && len(f.Fields) > 0 {
			seed = f.Fields
			at := f.At
			res.Provisional = &at
			state["provisional_at"] = at.UnixMilli()
			expected = max(expected, f.Fields["total"])
		}
	}
	state["expected"] = expected
	tx := v.rdb.TxPipeline()
	tx.Del(ctx, schema.AggNewKey, schema.DaysNewKey, schema.AggDeltaKey, schema.DaysDeltaKey, schema.AppliedKey)
	tx.HSet(ctx, schema.RebuildKey, state)
	if seed != nil {
		for f, n := range seed {
			if f != "updated_at" {
				tx.HIncrBy(ctx, schema.AggKey, f, n)
			}
		}
		tx.HSet(ctx, schema.AggKey, "provisional_at", res.Provisional.UnixMilli())
		if ms := seed["updated_at"]; ms > 0 {
			tx.HSetNX(ctx, schema.AggKey, "updated_at", ms)
		}
	}
	if _, err := tx.Exec(ctx); err != nil {
		return res, fmt.Errorf("stats: rebuild: start: %w", err)
	}
	if seed != nil {
		_ = v.rdb.Publish(ctx, schema.ChangedChannel, "rebuild").Err()
	}

	var (
		count   = Tally(nil)
		newest  []record.Record
		last    = start
		batches = make([]string, 0, 16)
		index   = make(map[string]int, 16)
	)
	report := func(final bool) {
		now := v.now()
		if !final && now.Sub(last) < opts.Every {
			return
		}
		last = now
		p := Progress{Scanned: res.Scanned, Expected: expected, Elapsed: now.Sub(start)}
		if s := p.Elapsed.Seconds(); s > 0 {
			p.Rate = float64(res.Scanned) / s
		}
		if p.Rate > 0 && expected > res.Scanned {
			p.Left = time.Duration(float64(expected-res.Scanned) / p.Rate * float64(time.Second))
		}
		_ = v.rdb.HSet(ctx, schema.RebuildKey, "scanned", res.Scanned).Err()
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	err = src.ScanStored(ctx, opts.BatchSize, func(docs []store.Stored) error {
		batches, skip := batches[:0], map[string]bool(nil)
		clear(index)
		for _, d := range docs {
			if d.Batch != "" {
				if _, ok := index[d.Batch]; !ok {
					index[d.Batch] = len(batches)
					batches = append(batches, d.Batch)
				}
			}
		}
		if len(batches) > 0 {
			args := make([]any, len(batches))
			for i, b := range batches {
				args[i] = b
			}
			out, err := v.classify.Run(ctx, v.rdb, []string{schema.PendingKey, schema.AppliedKey}, args...).Int64Slice()
			if err != nil {
				return fmt.Errorf("stats: rebuild: classify: %w", err)
			}
			for i, o := range out {
				if o == 1 {
					if skip == nil {
						skip = map[string]bool{}
					}
					skip[batches[i]] = true
				}
			}
		}
		for _, d := range docs {
			res.Scanned++
			if d.Batch != "" && skip[d.Batch] {
				continue
			}
			count.add(d.Record)
			res.Counted++
			newest = keepNewest(newest, d.Record)
		}
		report(false)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("stats: rebuild: %w", err)
	}
	report(true)
	agg, days := count.fields()
	if err := v.writeHash(ctx, schema.AggNewKey, agg); err != nil {
		return res, err
	}
	if err := v.writeHash(ctx, schema.DaysNewKey, days); err != nil {
		return res, err
	}
	if n, err := v.rdb.LLen(ctx, schema.LatestKey).Result(); err == nil && n == 0 && len(newest) > 0 {
		vals := make([]any, 0, len(newest))
		for _, r := range newest {
			b, err := json.Marshal(latestOf(r))
			if err != nil {
				return res, fmt.Errorf("stats: rebuild: %w", err)
			}
			vals = append(vals, string(b))
		}
		if err := v.rdb.RPush(ctx, schema.LatestKey, vals...).Err(); err != nil {
			return res, fmt.Errorf("stats: rebuild latest: %w", err)
		}
	}
	keys := []string{schema.AggKey, schema.AggNewKey, schema.AggDeltaKey, schema.DaysKey, schema.DaysNewKey, schema.DaysDeltaKey, schema.AppliedKey, schema.RebuildKey,
		schema.EpochKey, schema.RebuildLeaseKey, schema.CountedKey}
	total, err := v.swap.Run(ctx, v.rdb, keys, epoch, schema.ChangedChannel, owner).Int64()
	if err != nil {
		return res, fmt.Errorf("stats: rebuild: swap: %w", err)
	}
	res.Total = total
	res.Took = v.now().Sub(start)
	return res, nil
}

// writeHash writes fields into key in pipelined chunks.
func (v *View) writeHash(ctx context.Context, key string, fields map[string]int64) error {
	const chunk = 500
	pipe := v.rdb.Pipeline()
	args := make([]any, 0, 2*chunk)
	flush := func() {
		if len(args) > 0 {
			pipe.HSet(ctx, key, args...)
			args = make([]any, 0, 2*chunk)
		}
	}
	for f, n := range fields {
		args = append(args, f, n)
		if len(args) == 2*chunk {
			flush()
		}
	}
	flush()
	if _, err := pipe.Exec(ctx); err != nil && pipe.Len() > 0 {
		return fmt.Errorf("stats: rebuild: write %s: %w", key, err)
	}
	return nil
}

// keepNewest keeps the schema.LatestKept most recently received records,
// newest first; test records are never among them.
func keepNewest(newest []record.Record, r record.Record) []record.Record {
	if r.Synthetic || len(newest) == schema.LatestKept && !r.ReceivedAt.After(newest[len(newest)-1].ReceivedAt) {
		return newest
	}
	i := len(newest)
	for i > 0 && r.ReceivedAt.After(newest[i-1].ReceivedAt) {
		i--
	}
	newest = append(newest, record.Record{})
	copy(newest[i+1:], newest[i:])
	newest[i] = r
	if len(newest) > schema.LatestKept {
		newest = newest[:schema.LatestKept]
	}
	return newest
}
