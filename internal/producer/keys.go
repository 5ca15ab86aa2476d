package producer

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/schema"
)

// RefreshEvery is how often an ingest instance reloads the key table: the
// longest a revoked key still works there.
const RefreshEvery = 2 * time.Second

// Identity is the producer a request's key belongs to, with its quota
// override (0: the default).
type Identity struct {
	Name  string
	Rate  float64
	Burst int
}

// The reasons a key is refused.
var (
	ErrNoKey       = errors.New("producer key required: Authorization: Bearer <key>")
	ErrUnknownKey  = errors.New("unknown producer key")
	ErrRevoked     = errors.New("this producer's key is revoked")
	ErrUnavailable = errors.New("the producer key table is not loaded yet (Redis unreachable): retry")
)

type known struct {
	hash    [sha256.Size]byte
	id      Identity
	revoked bool
}

type table struct {
	byHash map[[sha256.Size]byte]*known
	byName map[string]*known
}

// Keys is one ingest instance's copy of the key table, reloaded from the
// Redis mirror every RefreshEvery. A failed reload keeps the last table
// (a Redis outage does not lock the producers out); before the first load
// every key is answered ErrUnavailable.
type Keys struct {
	rdb redis.UniversalClient
	log *slog.Logger
	cur atomic.Pointer[table]
}

// NewKeys returns the key table of rdb; Run keeps it fresh.
func NewKeys(rdb redis.UniversalClient, log *slog.Logger) *Keys {
	return &Keys{rdb: rdb, log: log}
}

// Load reads the table once.
func (k *Keys) Load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	m, err := k.rdb.HGetAll(ctx, schema.ProducersKey).Result()
	if err != nil {
		return fmt.Errorf("producer keys: %w", err)
	}
	if len(m) == 0 && k.cur.Load() != nil {
		// A wiped Redis: keep the last table until the processes that hold
		// MongoDB publish it again (within seconds), rather than refuse
		// every producer meanwhile. Producers are revoked, never deleted,
		// so a revocation is always in a published table.
		return nil
	}
	t := &table{byHash: make(map[[sha256.Size]byte]*known, len(m)), byName: make(map[string]*known, len(m))}
	for name, v := range m {
		var e entry
		if err := json.Unmarshal([]byte(v), &e); err != nil {
			continue
		}
		raw, err := hex.DecodeString(e.Hash)
		if err != nil || len(raw) != sha256.Size {
			continue
		}
		kn := &known{id: Identity{Name: name, Rate: e.Rate, Burst: e.Burst}, revoked: e.Revoked}
		copy(kn.hash[:], raw)
		t.byHash[kn.hash] = kn
		t.byName[name] = kn
	}
	k.cur.Store(t)
	return nil
}

// Run reloads the table every RefreshEvery until ctx ends.
func (k *Keys) Run(ctx context.Context) {
	t := time.NewTicker(RefreshEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := k.Load(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			k.log.Warn("producer key table not reloaded: the last one stays in use", "err", err)
			failing = true
		case err == nil && failing:
			k.log.Info("producer key table reloaded again")
			failing = false
		}
	}
}

// BearerKey returns the key of an `Authorization: Bearer <key>` header.
func BearerKey(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return ""
	}
	return strings.TrimSpace(h[7:])
}

// Check returns the producer whose key r carries. The key is hashed first
// and the hash is what is looked up and compared (in constant time), so
// how long a refusal takes tells nothing about how close a guess was.
func (k *Keys) Check(r *http.Request) (Identity, error) {
	return k.CheckKey(BearerKey(r))
}

// CheckKey is Check for a bare key.
func (k *Keys) CheckKey(key string) (Identity, error) {
	if key == "" {
		return Identity{}, ErrNoKey
	}
	t := k.cur.Load()
	if t == nil {
		return Identity{}, ErrUnavailable
	}
	h := Hash(key)
	kn, ok := t.byHash[h]
	if !ok || subtle.ConstantTimeCompare(kn.hash[:], h[:]) != 1 {
		return Identity{}, ErrUnknownKey
	}
	if kn.revoked {
		return kn.id, ErrRevoked
	}
	return kn.id, nil
}

// Static is a fixed key table (in-process tests and tools).
type Static struct{ k Keys }

// NewStatic returns the table of keys (key -> producer), all active.
func NewStatic(keys map[string]Identity) *Static {
	t := &table{byHash: make(map[[sha256.Size]byte]*known, len(keys)), byName: make(map[string]*known, len(keys))}
	for key, id := range keys {
		kn := &known{hash: Hash(key), id: id}
		t.byHash[kn.hash] = kn
		t.byName[id.Name] = kn
	}
	s := &Static{}
	s.k.cur.Store(t)
	return s
}

// Check implements the ingest's Authenticator.
func (s *Static) Check(r *http.Request) (Identity, error) { return s.k.Check(r) }
