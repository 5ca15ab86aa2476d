package producer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/schema"
)

// Default quota of a producer without its own (records per second, and
// the most records at once after a pause). The burst must hold the
// largest request (1000 records).
const (
	DefaultRate  = 1000
	DefaultBurst = 5000
)

// Quota is the per-producer token bucket, shared by every ingest instance
// through one Redis hash per producer (schema.QuotaKeyFmt) and one script:
// the bucket refills at Rate records per second up to Burst, a request of
// n records takes n tokens or nothing. Redis's own clock is used, so the
// instances' clocks do not matter.
//
// So that the quota does not cost every request a Redis round trip, an
// instance takes a little more than it needs when it goes to Redis (a
// lease: about 50 ms of the producer's rate, at most a tenth of its burst)
// and spends the rest locally for up to LeaseFor. A producer thus gets at
// most its quota plus one lease per instance, and one round trip per lease.
type Quota struct {
	rdb          redis.UniversalClient
	rate         float64
	burst        int
	unlimitedDef bool

	mu     sync.Mutex
	leases map[string]*lease
}

type lease struct {
	tokens  float64
	expires time.Time
	// refill is closed when the one trip to Redis in flight for this
	// producer ends; nil when none is. Requests that find the lease short
	// wait for it rather than each going to Redis: 64 requests each taking
	// a lease at once would drain the bucket for the tokens of one.
	refill chan struct{}
	// refused is the answer of the last trip when it granted nothing: the
	// requests that waited for it are refused alike.
	refused time.Duration
}

// LeaseFor is how long an instance may spend tokens it took ahead.
const LeaseFor = time.Second

// TripTimeout bounds one trip to Redis; the caller decides what a failed
// trip means (the ingest lets the request through). Requests served from
// the lease make no trip and no timer.
const TripTimeout = 300 * time.Millisecond

// NewQuota returns the quota kept in rdb, with the default rate and burst
// for producers without their own; rate 0 makes the default unlimited.
func NewQuota(rdb redis.UniversalClient, rate float64, burst int) *Quota {
	if burst <= 0 {
		burst = max(int(rate), 1)
	}
	return &Quota{rdb: rdb, rate: rate, burst: burst, unlimitedDef: rate <= 0, leases: map[string]*lease{}}
}

// takeLua: KEYS[1] the bucket; ARGV rate (records/s), burst, n (needed),
// extra (wanted ahead). Returns {granted, wait in ms}: granted is n+extra
// when the bucket holds it, n or more when it holds n, else 0 with the
// wait until n would be there.
var takeLua = redis.NewScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local extra = tonumber(ARGV[4])
local t = redis.call('TIME')
-- milliseconds with a tenth: 14 digits, what tostring keeps exactly
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 100) / 10
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000) end
local granted = 0
local wait = 0
if tokens >= n + extra then
  granted = n + extra
elseif tokens >= n then
  granted = math.floor(tokens)
else
  wait = math.ceil((n - tokens) * 1000 / rate)
end
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {granted, wait}
`)

// Decision is the answer of Take.
type Decision struct {
	OK         bool
	RetryAfter time.Duration // when not OK
	Limit      float64       // the rate applied (records/s); 0: unlimited
	Burst      int
	TooLarge   bool // n is over the burst: it never fits
}

// Take takes n tokens from id's bucket: from this instance's lease when it
// holds enough, else from Redis.
func (q *Quota) Take(ctx context.Context, id Identity, n int) (Decision, error) {
	rate, burst := q.rate, q.burst
	if id.Rate > 0 {
		rate = id.Rate
		burst = id.Burst
		if id.Burst <= 0 {
			burst = max(int(rate), 1)
		}
	} else if q.unlimitedDef {
		return Decision{OK: true}, nil
	} else if id.Burst > 0 {
		burst = id.Burst
	}
	d := Decision{Limit: rate, Burst: burst}
	if n > burst {
		d.TooLarge = true
		d.RetryAfter = time.Second
		return d, nil
	}
	q.mu.Lock()
	l := q.leases[id.Name]
	if l == nil {
		l = &lease{}
		q.leases[id.Name] = l
	}
	waited := false
	for {
		now := time.Now()
		if now.After(l.expires) {
			l.tokens = 0
		}
		if l.tokens >= float64(n) {
			l.tokens -= float64(n)
			q.mu.Unlock()
			d.OK = true
			return d, nil
		}
		if l.refill == nil {
			if waited && l.refused > 0 {
				// The trip this request waited for found the bucket empty.
				q.mu.Unlock()
				d.RetryAfter = l.refused
				return d, nil
			}
			break
		}
		ch := l.refill
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return d, fmt.Errorf("quota: %w", ctx.Err())
		}
		waited = true
		q.mu.Lock()
	}
	// This request goes to Redis for itself and a lease ahead.
	ch := make(chan struct{})
	l.refill = ch
	q.mu.Unlock()
	extra := min(int(rate/20), burst/10)
	tctx, cancel := context.WithTimeout(ctx, TripTimeout)
	res, err := takeLua.Run(tctx, q.rdb, []string{fmt.Sprintf(schema.QuotaKeyFmt, id.Name)}, rate, burst, n, extra).Int64Slice()
	cancel()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected answer %v", res)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	l.refill = nil
	l.refused = 0
	close(ch)
	if err != nil {
		return d, fmt.Errorf("quota: %w", err)
	}
	if res[0] < int64(n) {
		d.RetryAfter = time.Duration(max(res[1], 1)) * time.Millisecond
		l.refused = d.RetryAfter
		return d, nil
	}
	d.OK = true
	now := time.Now()
	if now.After(l.expires) {
		l.tokens = 0
	}
	// What is left of the lease is kept: tokens taken from Redis are spent
	// here or lapse with the lease, never dropped while it holds.
	l.tokens += float64(res[0] - int64(n))
	l.expires = now.Add(LeaseFor)
	return d, nil
}
