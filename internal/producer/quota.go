package producer

import (
	"context"
	"fmt"
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
type Quota struct {
	rdb          redis.UniversalClient
	rate         float64
	burst        int
	unlimitedDef bool
}

// NewQuota returns the quota kept in rdb, with the default rate and burst
// for producers without their own; rate 0 makes the default unlimited.
func NewQuota(rdb redis.UniversalClient, rate float64, burst int) *Quota {
	if burst <= 0 {
		burst = max(int(rate), 1)
	}
	return &Quota{rdb: rdb, rate: rate, burst: burst, unlimitedDef: rate <= 0}
}

// takeLua: KEYS[1] the bucket; ARGV rate (records/s), burst, n. Returns
// {1, 0} when n tokens were taken, {0, wait in ms} otherwise.
var takeLua = redis.NewScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
-- milliseconds with a tenth: 14 digits, what tostring keeps exactly
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 100) / 10
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000) end
local ok = 0
local wait = 0
if n <= tokens then
  tokens = tokens - n
  ok = 1
else
  wait = math.ceil((math.min(n, burst) - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {ok, wait}
`)

// Decision is the answer of Take.
type Decision struct {
	OK         bool
	RetryAfter time.Duration // when not OK
	Limit      float64       // the rate applied (records/s); 0: unlimited
	Burst      int
	TooLarge   bool // n is over the burst: it never fits
}

// Take takes n tokens from id's bucket.
func (q *Quota) Take(ctx context.Context, id Identity, n int) (Decision, error) {
	rate, burst := q.rate, q.burst
	if id.Rate > 0 {
		rate = id.Rate
		burst = max(id.Burst, 1)
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
	res, err := takeLua.Run(ctx, q.rdb, []string{fmt.Sprintf(schema.QuotaKeyFmt, id.Name)}, rate, burst, n).Int64Slice()
	if err != nil {
		return d, fmt.Errorf("quota: %w", err)
	}
	if len(res) != 2 {
		return d, fmt.Errorf("quota: unexpected answer %v", res)
	}
	d.OK = res[0] == 1
	if !d.OK {
		d.RetryAfter = time.Duration(max(res[1], 1)) * time.Millisecond
	}
	return d, nil
}
