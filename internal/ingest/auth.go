package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vacunometro/vacunometro/internal/httpx"
	"github.com/vacunometro/vacunometro/internal/producer"
)

// Authenticator tells which producer a request's key belongs to
// (producer.Keys): producer.ErrNoKey, ErrUnknownKey (401), ErrRevoked
// (403) or ErrUnavailable (503) otherwise.
type Authenticator interface {
	Check(r *http.Request) (producer.Identity, error)
}

// Limiter is the per-producer quota (producer.Quota).
type Limiter interface {
	Take(ctx context.Context, id producer.Identity, n int) (producer.Decision, error)
}

// authenticate answers 401/403/503 and returns false unless the request
// carries an active producer's key.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (producer.Identity, bool) {
	id, err := s.cfg.Auth.Check(r)
	if err == nil {
		return id, true
	}
	label := id.Name
	switch {
	case errors.Is(err, producer.ErrNoKey):
		label = "none"
	case label == "":
		label = "unknown"
	}
	s.cfg.Metrics.Producer.WithLabelValues(label, "refused").Inc()
	switch {
	case errors.Is(err, producer.ErrRevoked):
		httpx.WriteError(w, http.StatusForbidden, "this producer's key is revoked: nothing was stored; ask the operator for a new producer")
	case errors.Is(err, producer.ErrUnavailable):
		httpx.RetryAfter(w, time.Second)
		httpx.WriteError(w, http.StatusServiceUnavailable, "producer keys not loaded yet: nothing was stored; retry")
	default:
		if n, ok := s.authWarn.Allow(); ok {
			s.cfg.Log.Warn("record request refused: no or unknown producer key", "remote", r.RemoteAddr, "reason", err.Error(), "refused_since_last_log", n)
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="vacunometro"`)
		msg := "producer key required: send Authorization: Bearer <key> (vacunometro producers add NAME makes one)"
		if errors.Is(err, producer.ErrUnknownKey) {
			msg = "unknown producer key: nothing was stored"
		}
		httpx.WriteError(w, http.StatusUnauthorized, msg)
	}
	return id, false
}

// takeQuota answers 429 with Retry-After and returns false when the
// producer is over its quota.
func (s *Server) takeQuota(ctx context.Context, w http.ResponseWriter, id producer.Identity, n int) bool {
	if s.cfg.Quota == nil {
		return true
	}
	// The Limiter bounds its own trips to Redis (producer.TripTimeout); a
	// Redis that does not answer lets the request through: the quota
	// protects the others, an outage must not stop everyone.
	d, err := s.cfg.Quota.Take(ctx, id, n)
	if err != nil {
		if k, ok := s.quotaWarn.Allow(); ok {
			s.cfg.Log.Warn("quota unavailable: records accepted without the rate limit", "err", err, "times", k)
		}
		return true
	}
	if d.OK {
		return true
	}
	s.cfg.Metrics.Producer.WithLabelValues(id.Name, "rate_limited").Add(float64(n))
	httpx.RetryAfter(w, d.RetryAfter+time.Second-1)
	msg := fmt.Sprintf("over this producer's quota of %g records per second (burst %d): nothing was stored; retry after the Retry-After seconds", d.Limit, d.Burst)
	if d.TooLarge {
		msg = fmt.Sprintf("a request of %d records is over this producer's burst of %d: nothing was stored; send smaller requests", n, d.Burst)
	}
	httpx.WriteError(w, http.StatusTooManyRequests, msg)
	return false
}
