// Package schema owns the names and sizes of vacunometro's data in Redis:
// the keys of the statistics view, the rollout's state, the change
// channel, and how many recent records are kept. Every package that reads
// or writes them (stats, rollout, realtime, the tests) takes them from here.
package schema

// The keys share a hash tag so that a Redis Cluster keeps them in one slot
// (the view's apply script touches them together).
const (
	AggKey     = "{vac}:agg"     // hash: total, d:<code>:<dose>, v:<vaccine>, n:<dose>, a:<band>, r:<route>, updated_at
	CountedKey = "{vac}:counted" // set of record ids already counted
	LatestKey  = "{vac}:latest"  // list of masked latest-record JSON, newest first
	SplitKey   = "{vac}:split"   // hash: route -> configured weight
	RolloutKey = "{vac}:rollout" // JSON: the last rollout's state (internal/rollout)
	RateKeyFmt = "{vac}:rate:%d" // records counted in one Unix second
	// ProducersKey mirrors MongoDB's producers (internal/producer) for the
	// ingest instances: hash name -> JSON {key hash, revoked, quota}.
	ProducersKey = "{vac}:producers"
	QuotaKeyFmt  = "{vac}:quota:%s" // hash: one producer's token bucket (tokens, ts)
)

// ChangedChannel is the pub/sub channel on which a change is announced:
// the view's new total after counting, or "rollout" after a rollout step.
const ChangedChannel = "vacunometro.changed"

// RolloutNotice is the payload announcing a new rollout state.
const RolloutNotice = "rollout"

// LatestKept is how many recent records the view keeps (and the dashboard
// shows).
const LatestKept = 5
