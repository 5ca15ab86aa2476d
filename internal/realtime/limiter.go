package realtime

import (
	"time"
)

// burstTokens is the read bucket's capacity: one read plus a quarter, so
// that notices arriving at exactly MaxPerSecond, some a little early, are
// neither delayed nor merged, while a sustained stream of notices still
// yields MaxPerSecond reads per second.
const burstTokens = 1.25

// bucket is a token bucket of snapshot reads.
type bucket struct {
	rate   float64 // tokens per second
	tokens float64
	at     time.Time
}

func newBucket(rate float64, now time.Time) *bucket {
	return &bucket{rate: rate, tokens: burstTokens, at: now}
}

// refund gives back a token that take spent.
func (b *bucket) refund() { b.tokens = min(burstTokens, b.tokens+1) }

// take spends a token and returns 0, or returns how long until one is due.
func (b *bucket) take(now time.Time) time.Duration {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(burstTokens, b.tokens+d.Seconds()*b.rate)
		b.at = now
	}
	const eps = 1e-6 // timer and float rounding
	if b.tokens >= 1-eps {
		b.tokens = max(b.tokens-1, 0)
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}
