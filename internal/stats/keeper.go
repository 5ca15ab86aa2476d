package stats

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/schema"
	"github.com/vacunometro/vacunometro/internal/store"
)

// Repair timing. A sink's InsertMany has InsertDeadline and, under a
// Lease, ends when the lease lapses. An intent is repaired once its owner's
// heartbeat has lapsed (HeartbeatTTL after its last renewal) and, for an
// intent written without a lease, it is older than the deadline (the insert
// is over: done, failed or cut off); or, whoever owns it, once it is older
// than RepairAfter.
const (
	InsertDeadline = 8 * time.Second
	HeartbeatTTL   = 4 * time.Second
	RepairAfter    = 30 * time.Second
)

// KeeperOptions tune a Keeper.
type KeeperOptions struct {
	Owner        string        // this process's id (default: random)
	Tick         time.Duration // repair and epoch checks (default 1s)
	SaveEvery    time.Duration // public figures saved to MongoDB (default 5s)
	AutoRebuild  bool          // rebuild a lost or foreign view in the background
	RebuildBatch int
	Now          func() time.Time // the repair's clock (default time.Now)
}

// Keeper keeps the view right in the background, at a cost that does not
// grow with the records stored: it repairs intents left by crashed or
// failed commits (reading only their ids), notices a lost view (no epoch in
// Redis) or a view of other records (another epoch) in O(1) and rebuilds it
// without a gap, drops a dead rebuild's leftovers, and saves the public
// figures to MongoDB every few seconds for the next lost-view rebuild.
type Keeper struct {
	view *View
	src  Source
	log  *slog.Logger
	opts KeeperOptions

	lease *Lease

	mu        sync.Mutex
	ctx       context.Context // Run's, for rebuilds started on request
	rebuildOn bool
	lastSaved string
	wg        sync.WaitGroup

	epoch   string    // MongoDB's epoch, as last read
	epochAt time.Time // when it was read
}

// epochTTL is how long the keeper trusts the MongoDB epoch it read: it
// changes only when the records collection is replaced.
const epochTTL = 10 * time.Second

// sourceEpoch returns MongoDB's epoch, read at most once per epochTTL.
func (k *Keeper) sourceEpoch(ctx context.Context) (string, error) {
	k.mu.Lock()
	e, at := k.epoch, k.epochAt
	k.mu.Unlock()
	if e != "" && time.Since(at) < epochTTL {
		return e, nil
	}
	e, _, err := k.src.Epoch(ctx)
	if err != nil {
		return "", err
	}
	k.mu.Lock()
	k.epoch, k.epochAt = e, time.Now()
	k.mu.Unlock()
	return e, nil
}

// NewKeeper returns a keeper of view against src.
func NewKeeper(view *View, src Source, log *slog.Logger, opts KeeperOptions) *Keeper {
	if opts.Owner == "" {
		opts.Owner = newID()
	}
	if opts.Tick <= 0 {
		opts.Tick = time.Second
	}
	if opts.SaveEvery <= 0 {
		opts.SaveEvery = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Keeper{view: view, src: src, log: log, opts: opts, lease: NewLease(opts.Owner)}
}

// Lease is this process's insert lease, renewed by Run: give it to the
// sink, so that its intents are repaired as soon as the process is gone,
// and only then.
func (k *Keeper) Lease() *Lease { return k.lease }

// heartbeat renews the lease every HeartbeatTTL/4 until ctx ends, apart
// from the repair, which can take seconds.
func (k *Keeper) heartbeat(ctx context.Context) {
	t := time.NewTicker(HeartbeatTTL / 4)
	defer t.Stop()
	for {
		if err := k.view.Renew(ctx, k.lease); err != nil && ctx.Err() == nil {
			k.log.Warn("view heartbeat", "err", err, "lease_until", k.lease.Until())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Run keeps the view until ctx ends, then waits for a rebuild it started.
func (k *Keeper) Run(ctx context.Context) {
	k.mu.Lock()
	k.ctx = ctx
	k.mu.Unlock()
	defer k.wg.Wait()
	defer k.lease.Stop()
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		k.heartbeat(ctx)
	}()
	t := time.NewTicker(k.opts.Tick)
	defer t.Stop()
	lastSave := time.Time{}
	for {
		k.tick(ctx)
		if time.Since(lastSave) >= k.opts.SaveEvery {
			lastSave = time.Now()
			if err := k.saveFigures(ctx); err != nil && ctx.Err() == nil {
				k.log.Warn("save the public figures to MongoDB", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (k *Keeper) tick(ctx context.Context) {
	if n, err := k.Repair(ctx); err != nil && ctx.Err() == nil {
		k.log.Warn("repair the view", "err", err)
	} else if n > 0 {
		k.log.Info("repaired the view: counted records stored by batches that did not commit", "records", n)
	}
	if k.opts.AutoRebuild {
		if err := k.checkEpoch(ctx); err != nil && ctx.Err() == nil {
			k.log.Warn("check the view's epoch", "err", err)
		}
	}
}

// Repair commits every intent left behind by a dead owner or older than
// RepairAfter: it reads the documents their batch stored among those ids
// (store.LookupBatch: by exact _id, or from an index on the batch) and
// counts them. It returns the records counted.
func (k *Keeper) Repair(ctx context.Context) (int, error) {
	pending, err := k.view.rdb.HGetAll(ctx, schema.PendingKey).Result()
	if err != nil {
		return 0, fmt.Errorf("stats: read intents: %w", err)
	}
	if len(pending) == 0 {
		return 0, nil
	}
	now := k.opts.Now()
	alive := map[string]bool{}
	total := 0
	for batch, raw := range pending {
		var in intent
		if err := json.Unmarshal([]byte(raw), &in); err != nil {
			k.log.Warn("dropping an unreadable intent", "batch", batch, "err", err)
			k.view.rdb.HDel(ctx, schema.PendingKey, batch)
			continue
		}
		age := now.Sub(time.UnixMilli(in.AtMs))
		if !in.Leased && age < InsertDeadline+time.Second {
			continue
		}
		if age < RepairAfter {
			live, ok := alive[in.Owner]
			if !ok {
				n, err := k.view.rdb.Exists(ctx, fmt.Sprintf(schema.OwnerKeyFmt, in.Owner)).Result()
				if err != nil {
					return total, fmt.Errorf("stats: owner heartbeat: %w", err)
				}
				live = n == 1
				alive[in.Owner] = live
			}
			if live {
				continue
			}
		}
		held, err := k.src.LookupBatch(ctx, batch, in.IDs)
		if err != nil {
			return total, fmt.Errorf("stats: repair batch %s: %w", batch, err)
		}
		fresh := make([]record.Record, 0, len(held))
		for _, d := range held {
			fresh = append(fresh, d.Record)
		}
		n, err := k.view.Commit(ctx, batch, fresh)
		if errors.Is(err, ErrCommitted) {
			continue
		}
		if err != nil {
			return total, err
		}
		total += n
		k.log.Info("repaired a batch that did not commit", "batch", batch, "owner", in.Owner, "age", age.Round(time.Millisecond),
			"ids", len(in.IDs), "counted", n)
	}
	return total, nil
}

// checkEpoch starts a background rebuild when the view in Redis is not the
// view of these records: no epoch (Redis lost or never built) or another
// epoch (MongoDB replaced, or Redis shared with other records).
func (k *Keeper) checkEpoch(ctx context.Context) error {
	if _, err := k.view.DropStaleRebuild(ctx); err != nil {
		return err
	}
	epoch, err := k.sourceEpoch(ctx)
	if err != nil {
		return err
	}
	have, err := k.view.rdb.Get(ctx, schema.EpochKey).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("stats: read epoch: %w", err)
	}
	if have == epoch {
		return nil
	}
	k.mu.Lock()
	if k.rebuildOn {
		k.mu.Unlock()
		return nil
	}
	if n, _ := k.view.rdb.Exists(ctx, schema.RebuildLeaseKey).Result(); n == 1 {
		k.mu.Unlock()
		return nil // someone else is on it
	}
	k.rebuildOn = true
	k.mu.Unlock()
	why := "the view was lost (no epoch in Redis)"
	if have != "" {
		why = "the view belongs to other records (another epoch)"
	}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		defer func() { k.mu.Lock(); k.rebuildOn = false; k.mu.Unlock() }()
		k.log.Info("rebuilding the view from MongoDB in the background", "why", why)
		res, err := k.view.Rebuild(ctx, k.src, RebuildOptions{Owner: k.opts.Owner, BatchSize: k.opts.RebuildBatch,
			Every: 5 * time.Second, Progress: func(p Progress) { k.log.Info("rebuilding the view", "progress", p.String()) }})
		var running *RebuildRunningError
		switch {
		case errors.As(err, &running):
		case err != nil:
			if ctx.Err() == nil {
				k.log.Error("rebuild the view", "err", err)
			}
		default:
			k.log.Info("rebuilt the view", "scanned", res.Scanned, "counted_by_scan", res.Counted, "total", res.Total,
				"took", res.Took.Round(time.Millisecond))
		}
	}()
	return nil
}

// saveFigures keeps the aggregate outside Redis when the view is the view
// of these records and settled (no rebuild running).
func (k *Keeper) saveFigures(ctx context.Context) error {
	pipe := k.view.rdb.Pipeline()
	epochCmd := pipe.Get(ctx, schema.EpochKey)
	rebuildCmd := pipe.Exists(ctx, schema.RebuildKey)
	aggCmd := pipe.HGetAll(ctx, schema.AggKey)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("stats: read view: %w", err)
	}
	agg := aggCmd.Val()
	if epochCmd.Val() == "" || rebuildCmd.Val() == 1 || agg["updated_at"] == "" {
		return nil
	}
	epoch, err := k.sourceEpoch(ctx)
	if err != nil || epoch != epochCmd.Val() {
		return err
	}
	if agg["updated_at"] == k.lastSaved {
		return nil
	}
	fields := make(map[string]int64, len(agg))
	for f, s := range agg {
		if f == "provisional_at" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			fields[f] = n
		}
	}
	if err := k.src.SaveFigures(ctx, store.Figures{Fields: fields, At: k.view.now().UTC()}); err != nil {
		return err
	}
	k.lastSaved = agg["updated_at"]
	return nil
}

// NewBatchID returns a new random batch id.
func NewBatchID() string { return newID() }

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// RebuildOutcome is the end of a rebuild started by StartRebuild.
type RebuildOutcome struct {
	Result RebuildResult
	Err    error
}

// StartRebuild runs a full rebuild in the background, for the keeper's
// lifetime (not a request's); the channel gets its outcome, at once a
// *RebuildRunningError when another one runs.
func (k *Keeper) StartRebuild() (<-chan RebuildOutcome, error) {
	k.mu.Lock()
	ctx := k.ctx
	k.mu.Unlock()
	if ctx == nil {
		return nil, errors.New("stats: the keeper is not running")
	}
	out := make(chan RebuildOutcome, 1)
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		res, err := k.view.Rebuild(ctx, k.src, RebuildOptions{Owner: k.opts.Owner, BatchSize: k.opts.RebuildBatch,
			Every: 5 * time.Second, Progress: func(p Progress) { k.log.Info("rebuilding the view", "progress", p.String()) }})
		if err == nil {
			k.log.Info("rebuilt the view", "scanned", res.Scanned, "total", res.Total, "took", res.Took.Round(time.Millisecond))
		}
		out <- RebuildOutcome{Result: res, Err: err}
	}()
	return out, nil
}
