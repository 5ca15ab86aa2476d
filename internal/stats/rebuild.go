package stats

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/vacunometro/vacunometro/internal/record"
)

// Source is the system of record the view is rebuilt from (MongoDB).
type Source interface {
	Count(ctx context.Context) (int64, error)
	Scan(ctx context.Context, batchSize int, fn func([]record.Record) error) error
}

// RebuildResult says what a rebuild did.
type RebuildResult struct {
	Scanned int64 // records read from the source
	Counted int64 // records the view had not counted
	Reset   bool  // the view was deleted first
}

// Rebuild recounts the view from src. With reset, the view is deleted first
// and recomputed whole; without it, records the view has not counted are
// added (safe at any time, even under live traffic: counting is idempotent).
func (v *View) Rebuild(ctx context.Context, src Source, reset bool) (RebuildResult, error) {
	res := RebuildResult{Reset: reset}
	if reset {
		if err := v.Reset(ctx); err != nil {
			return res, err
		}
	}
	var newest []record.Record
	err := src.Scan(ctx, 1000, func(recs []record.Record) error {
		n, err := v.apply(ctx, recs, false)
		if err != nil {
			return err
		}
		res.Scanned += int64(len(recs))
		res.Counted += int64(n)
		newest = append(newest, recs...)
		sort.Slice(newest, func(i, j int) bool { return newest[i].ReceivedAt.After(newest[j].ReceivedAt) })
		if len(newest) > 5 {
			newest = newest[:5]
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("stats: rebuild: %w", err)
	}
	// Restore the latest records when the list was lost with the view.
	if n, err := v.rdb.LLen(ctx, keyLatest).Result(); err == nil && n == 0 && len(newest) > 0 {
		vals := make([]any, 0, len(newest))
		for _, r := range newest {
			b, err := json.Marshal(latestOf(r))
			if err != nil {
				return res, fmt.Errorf("stats: rebuild: %w", err)
			}
			vals = append(vals, string(b))
		}
		if err := v.rdb.RPush(ctx, keyLatest, vals...).Err(); err != nil {
			return res, fmt.Errorf("stats: rebuild latest: %w", err)
		}
	}
	if res.Counted > 0 || reset {
		total, err := v.Total(ctx)
		if err == nil {
			_ = v.rdb.Publish(ctx, ChangedChannel, fmt.Sprint(total)).Err()
		}
	}
	return res, nil
}

// EnsureFresh rebuilds the view when it is behind the source (empty after a
// wipe, or missing records after a crash between MongoDB and Redis), and
// recomputes it whole when it is ahead (the source was replaced). It returns
// whether it rebuilt. See Behind for a cheaper check first.
func (v *View) EnsureFresh(ctx context.Context, src Source) (bool, RebuildResult, error) {
	state, _, _, err := v.Check(ctx, src)
	if err != nil || state == Fresh {
		return false, RebuildResult{}, err
	}
	res, err := v.Rebuild(ctx, src, state == Ahead)
	return true, res, err
}

// Freshness is how the view compares with its source.
type Freshness int

// The states of the view against MongoDB.
const (
	Fresh  Freshness = iota // as many records counted as stored
	Behind                  // fewer counted: some records to add (also momentarily true under load)
	Empty                   // nothing counted though records are stored: wiped
	Ahead                   // more counted than stored: the source was replaced
)

// Check compares the view with src without changing anything.
func (v *View) Check(ctx context.Context, src Source) (Freshness, int64, int64, error) {
	// Read the view first: every counted record is already in the source, so
	// viewTotal <= srcCount unless the source lost records.
	viewTotal, err := v.Total(ctx)
	if err != nil {
		return Fresh, 0, 0, err
	}
	srcCount, err := src.Count(ctx)
	if err != nil {
		return Fresh, 0, 0, fmt.Errorf("stats: check: %w", err)
	}
	switch {
	case viewTotal == srcCount:
		return Fresh, viewTotal, srcCount, nil
	case viewTotal > srcCount:
		return Ahead, viewTotal, srcCount, nil
	case viewTotal == 0:
		return Empty, viewTotal, srcCount, nil
	default:
		return Behind, viewTotal, srcCount, nil
	}
}
