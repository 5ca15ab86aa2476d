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
}

// LeaseFor is how long an instance may spend tokens it took ahead.
const LeaseFor = time.Second

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
	now := time.Now()
	q.mu.Lock()
	l := q.leases[id.Name]
	if l != nil && now.Before(l.expires) && l.tokens >= float64(n) {
		l.tokens -= float64(n)
		q.mu.Unlock()
		d.OK = true
		return d, nil
	}
	q.mu.Unlock()
	extra := min(int(rate/20), burst/10)
	res, err := takeLua.Run(ctx, q.rdb, []string{fmt.Sprintf(schema.QuotaKeyFmt, id.Name)}, rate, burst, n, extra).Int64Slice()
	if err != nil {
		return d, fmt.Errorf("quota: %w", err)
	}
	if len(res) != 2 {
		return d, fmt.Errorf("quota: unexpected answer %v", res)
	}
	if res[0] < int64(n) {
		d.RetryAfter = time.Duration(max(res[1], 1)) * time.Millisecond
		return d, nil
	}
	d.OK = true
	if left := res[0] - int64(n); left > 0 {
		q.mu.Lock()
		q.leases[id.Name] = &lease{tokens: float64(left), expires: now.Add(LeaseFor)}
		q.mu.Unlock()
	}
	return d, nil
}
