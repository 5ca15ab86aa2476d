// Package schema owns the names and sizes of vacunometro's data in Redis:
// the keys of the statistics view, the shared split, the rollout's state,
// the change channel, and how many recent records are kept. Every package
// that reads or writes them (stats, split, rollout, realtime, publicapi,
// the tests) takes them from here; the view's Lua scripts are handed them
// as KEYS and ARGV.
package schema

// The keys share a hash tag so that a Redis Cluster keeps them in one slot
// (the view's scripts touch them together). Every family is bounded by the
// catalog, by days or by batches in flight, never by records stored.
const (
	AggKey     = "{vac}:agg"     // hash: total, d:<code>:<dose>, dv:<code>:<vaccine>, da:<code>:<band>, v:<vaccine>, n:<dose>, a:<band>, r:<route>, updated_at
	DaysKey    = "{vac}:days"    // hash: <YYYY-MM-DD>|<code>|<dose> -> doses given that day (Guatemala time)
	LatestKey  = "{vac}:latest"  // list of masked latest-record JSON, newest first
	RolloutKey = "{vac}:rollout" // JSON: the last rollout's state (internal/rollout)
	RateKeyFmt = "{vac}:rate:%d" // records counted in one Unix second

	EpochKey    = "{vac}:epoch"    // the epoch of the records the view was built from (store.Epoch)
	PendingKey  = "{vac}:pending"  // hash: batch id -> intent JSON, from before its InsertMany until its commit
	OwnerKeyFmt = "{vac}:owner:%s" // a live sink's heartbeat (expires when it dies)

	RebuildKey      = "{vac}:rebuild"       // hash: the running full rebuild's state (started, expected, scanned, ...)
	RebuildLeaseKey = "{vac}:rebuild:lease" // one full rebuild at a time, across all processes
	AggNewKey       = "{vac}:agg:new"       // the rebuild's scanned figures
	DaysNewKey      = "{vac}:days:new"
	AggDeltaKey     = "{vac}:agg:delta" // committed while a rebuild runs
	DaysDeltaKey    = "{vac}:days:delta"
	AppliedKey      = "{vac}:rebuild:applied" // set: batches committed while a rebuild runs

	CountedKey = "{vac}:counted" // the old per-record set of counted ids, dropped by the next rebuild
)

// The shared split (internal/split).
const (
	// SplitKey is the hash the dashboard's view reads for the configured
	// split: one field per route (its weight), and the "version" and
	// "group" of the change that wrote it.
	SplitKey = "{vac}:split"
	// SplitGroupKeyPrefix + group is the hash of one group's split.
	SplitGroupKeyPrefix = "{vac}:split:g:"
)

// Who may write (internal/producer).
const (
	// ProducersKey mirrors MongoDB's producers (internal/producer) for the
	// ingest instances: hash name -> JSON {key hash, revoked, quota}.
	ProducersKey = "{vac}:producers"
	QuotaKeyFmt  = "{vac}:quota:%s" // hash: one producer's token bucket (tokens, ts)
)

// ChangedChannel is the pub/sub channel on which a change is announced:
// the view's new total after counting, "split" after a split change,
// "rebuild" when a rebuild starts, or "rollout" after a rollout step.
const ChangedChannel = "vacunometro.changed"

// RolloutNotice is the payload announcing a new rollout state.
const RolloutNotice = "rollout"

// LatestKept is how many recent records the view keeps (and the dashboard
// shows).
const LatestKept = 5

// RateKeptSeconds is how long a per-second rate counter (RateKeyFmt) lives.
const RateKeptSeconds = 120
