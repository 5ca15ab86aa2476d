package split

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/schema"
)

// DefaultFollowEvery is how often Follow reads the shared split besides the
// announcements (a missed announcement costs at most this long).
const DefaultFollowEvery = 2 * time.Second

// publishLua replaces the group's split (KEYS[1]) and increments its
// version in one step, writes the same to the dashboard's hash (KEYS[2]),
// and announces it; it returns the new version. ARGV: channel, payload,
// group, then name, weight pairs.
const publishLua = `
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0') + 1
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'version', v)
redis.call('HSET', KEYS[2], 'version', v, 'group', ARGV[3])
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i+1])
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return v
`

// Shared is the split kept in Redis so that all instances converge on the
// last change. A change is one atomic step (the weights and a version
// counter together); instances apply only versions newer than theirs, so
// that concurrent changes, applied in any order, end in the same state
// everywhere: the one with the highest version.
type Shared struct {
	rdb     redis.UniversalClient
	key     string // the group's hash
	channel string
	payload string
	group   string
	script  *redis.Script
}

// NewShared returns the split of group shared in rdb; each change is
// announced on channel with payload (the dashboard's "changed" channel,
// "split"). Use the configured weights (Weights.String) as the group.
func NewShared(rdb redis.UniversalClient, channel, payload, group string) *Shared {
	return &Shared{rdb: rdb, key: schema.SplitGroupKeyPrefix + group, group: group, channel: channel, payload: payload, script: redis.NewScript(publishLua)}
}

// Publish stores w as the next version and announces it. names are every
// route the hash should list (weight 0 when absent from w).
func (s *Shared) Publish(ctx context.Context, w Weights, names []string) (int64, error) {
	all := map[string]int{}
	for _, n := range names {
		all[n] = 0
	}
	for n, v := range w {
		all[n] = v
	}
	keys := make([]string, 0, len(all))
	for n := range all {
		keys = append(keys, n)
	}
	sort.Strings(keys)
	args := []any{s.channel, s.payload, s.group}
	for _, n := range keys {
		args = append(args, n, all[n])
	}
	v, err := s.script.Run(ctx, s.rdb, []string{s.key, schema.SplitKey}, args...).Int64()
	if err != nil {
		return 0, fmt.Errorf("split: publish: %w", err)
	}
	return v, nil
}

// Load returns the stored split and its version (0 and nil weights when
// none is stored).
func (s *Shared) Load(ctx context.Context) (Weights, int64, error) {
	m, err := s.rdb.HGetAll(ctx, s.key).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("split: load: %w", err)
	}
	v, _ := strconv.ParseInt(m["version"], 10, 64)
	if v == 0 {
		return nil, 0, nil
	}
	w := Weights{}
	for k, val := range m {
		if k == "version" || k == "group" {
			continue
		}
		n, err := strconv.Atoi(val)
		if err != nil {
			return nil, 0, fmt.Errorf("split: load: weight of %q is %q", k, val)
		}
		w[k] = n
	}
	return w, v, nil
}

// Sync applies the stored split to sp if it is newer than what sp holds,
// keeping only the routes in known. It reports whether sp changed.
func (s *Shared) Sync(ctx context.Context, sp *Splitter, known []string) (bool, error) {
	mine, all, v, err := s.loadKnown(ctx, known)
	if err != nil || v == 0 {
		return false, err
	}
	if mine == nil {
		if _, cur := sp.Current(); v > cur {
			return false, noWeight(v, all, known)
		}
		return false, nil
	}
	return sp.SetVersion(mine, v), nil
}

// loadKnown loads the stored split (all, version v; v is 0 when none is
// stored) and keeps the routes in known: mine is nil when it gives them no
// weight.
func (s *Shared) loadKnown(ctx context.Context, known []string) (mine, all Weights, v int64, err error) {
	all, v, err = s.Load(ctx)
	if err != nil || v == 0 {
		return nil, all, v, err
	}
	mine = Weights{}
	for _, n := range known {
		mine[n] = all[n]
	}
	if mine.Total() == 0 {
		return nil, all, v, nil
	}
	return mine, all, v, nil
}

func noWeight(v int64, all Weights, known []string) error {
	return fmt.Errorf("split: version %d (%s) gives no weight to the routes here (%v)", v, all, known)
}

// Adopt sets sp, not in use yet, to the stored split (only the routes in
// known) and its version, and reports whether one is stored.
func (s *Shared) Adopt(ctx context.Context, sp *Splitter, known []string) (bool, error) {
	mine, all, v, err := s.loadKnown(ctx, known)
	if err != nil || v == 0 {
		return false, err
	}
	if mine == nil {
		return false, noWeight(v, all, known)
	}
	sp.Init(mine, v)
	return true, nil
}

// Follow keeps sp in step with the shared split until ctx ends: at once,
// on every announcement on the channel, and every interval (default
// DefaultFollowEvery) in case an announcement was missed.
func (s *Shared) Follow(ctx context.Context, sp *Splitter, known []string, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		every = DefaultFollowEvery
	}
	sub := s.rdb.Subscribe(ctx, s.channel)
	defer sub.Close()
	msgs := sub.Channel()
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastErr string
	sync := func() {
		changed, err := s.Sync(ctx, sp, known)
		switch {
		case err != nil && ctx.Err() == nil:
			if err.Error() != lastErr {
				log.Warn("follow the shared split", "err", err)
			}
			lastErr = err.Error()
		case changed:
			lastErr = ""
			w, v := sp.Current()
			log.Info("split changed by another instance", "to", w.String(), "version", v)
		}
	}
	sync()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			if m.Payload == s.payload {
				sync()
			}
		case <-tick.C:
			sync()
		}
	}
}
