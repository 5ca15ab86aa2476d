package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/record"
)

// IDClaims detects a client idempotency key reused with different data
// (issue 16, defect 4). The sink stores a record once per id and drops later
// ones silently, so the check happens at the ingest, before delivery: each
// client-supplied id is claimed with a fingerprint of its record; an exact
// repeat finds its own fingerprint (202, stored once), other data finds
// another (409, the first kept).
//
// Only client-supplied ids are claimed: ids the ingest assigns (UUIDv7 with
// random bits and a sequence) do not collide.
type IDClaims interface {
	// Claim claims every id of claims not yet held, and returns the indexes
	// (into claims) whose id is held with another fingerprint. release
	// gives up the claims this call made (when no route took the records,
	// or the request was refused): it is never nil when err is nil.
	Claim(ctx context.Context, claims []IDClaim) (conflicts []int, release func(context.Context), err error)
}

// IDClaim is one client-supplied id and the fingerprint of its record.
type IDClaim struct {
	ID, Fingerprint string
}

// Fingerprint identifies a record's data as the client sent it, once
// normalized ("Petén" and "peten" are the same department): not the time it
// was received, its route or its trace.
func Fingerprint(r record.Record) string {
	h := sha256.New()
	var n [8]byte
	field := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field(r.ID)
	field(r.Name)
	field(r.DepartmentCode)
	field(r.Vaccine)
	binary.BigEndian.PutUint64(n[:], uint64(r.Age)<<32|uint64(r.Dose))
	h.Write(n[:])
	var at int64
	if !r.VaccinatedAt.IsZero() {
		at = r.VaccinatedAt.UnixMilli()
	}
	binary.BigEndian.PutUint64(n[:], uint64(at))
	h.Write(n[:])
	return base64.RawStdEncoding.EncodeToString(h.Sum(nil)[:16])
}

// DefaultIDClaimTTL is how long RedisIDClaims remembers an id: the horizon
// within which a reuse with different data is answered 409. After it, the
// reuse is not detected at the ingest and the sink keeps the first record
// (silently, as before).
const DefaultIDClaimTTL = time.Hour

// RedisIDClaims keeps one key per client-supplied id, "vac:rid:<id>",
// holding the record's fingerprint (22 characters) and expiring after TTL;
// memory is bounded by the client ids accepted within one TTL (about 200
// bytes each). A claim is one SET NX GET per id (atomic per id, no
// cross-slot script, so Redis Cluster serves it too), pipelined.
type RedisIDClaims struct {
	rdb redis.UniversalClient
	ttl time.Duration
}

// NewRedisIDClaims returns claims kept in rdb for ttl (DefaultIDClaimTTL
// when 0).
func NewRedisIDClaims(rdb redis.UniversalClient, ttl time.Duration) *RedisIDClaims {
	if ttl <= 0 {
		ttl = DefaultIDClaimTTL
	}
	return &RedisIDClaims{rdb: rdb, ttl: ttl}
}

const idClaimPrefix = "vac:rid:"

// releaseLua deletes a claim only if it still holds this fingerprint.
var releaseLua = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// Claim implements IDClaims.
func (c *RedisIDClaims) Claim(ctx context.Context, claims []IDClaim) ([]int, func(context.Context), error) {
	noop := func(context.Context) {}
	if len(claims) == 0 {
		return nil, noop, nil
	}
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.StatusCmd, len(claims))
	for i, cl := range claims {
		cmds[i] = pipe.SetArgs(ctx, idClaimPrefix+cl.ID, cl.Fingerprint, redis.SetArgs{Mode: "NX", TTL: c.ttl, Get: true})
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("id claims: %w", err)
	}
	var conflicts []int
	var mine []IDClaim
	for i, cmd := range cmds {
		old, err := cmd.Result()
		switch {
		case errors.Is(err, redis.Nil):
			mine = append(mine, claims[i]) // newly claimed
		case err != nil:
			return nil, nil, fmt.Errorf("id claims: %w", err)
		case old != claims[i].Fingerprint:
			conflicts = append(conflicts, i)
		}
	}
	release := func(ctx context.Context) {
		if len(mine) == 0 {
			return
		}
		pipe := c.rdb.Pipeline()
		for _, cl := range mine {
			releaseLua.Eval(ctx, pipe, []string{idClaimPrefix + cl.ID}, cl.Fingerprint)
		}
		_, _ = pipe.Exec(ctx)
	}
	return conflicts, release, nil
}
