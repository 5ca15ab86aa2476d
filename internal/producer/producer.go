// Package producer owns who may write: the producers (vaccination sites and
// systems) whose keys the ingest accepts, their quotas, and the mirror of
// the key table that every ingest instance reads.
//
// MongoDB's `producers` collection is the system of record: one document
// per producer (name, SHA-256 of its key, created, revoked, quota). A key is
// 32 random bytes, shown once when made and never stored or logged: only
// its hash is kept. Ingest instances do not read MongoDB (on Cloud Run they
// have no MongoDB address): the table is mirrored to one Redis hash
// (schema.ProducersKey) by every change made here and, every few seconds,
// by the processes that hold both MongoDB and Redis (Sync), and each
// instance reloads the hash every RefreshEvery (Keys). So a revoked key
// stops working on every instance within about RefreshEvery.
package producer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/vacunometro/vacunometro/internal/schema"
)

// Collection is the MongoDB collection of producers.
const Collection = "producers"

// KeyPrefix starts every producer key (so a key found in a log or a file
// is recognisable, and the secret scan can look for it).
const KeyPrefix = "vacp_"

// keyBytes is the randomness of a key: 256 bits, so a hash of the key
// needs no salt or stretching.
const keyBytes = 32

// Producer is one producer as MongoDB holds it.
type Producer struct {
	Name    string    `bson:"_id" json:"name"`
	KeyHash string    `bson:"key_sha256" json:"-"` // hex SHA-256 of the key
	Created time.Time `bson:"created" json:"created"`
	Revoked time.Time `bson:"revoked,omitempty" json:"revoked,omitzero"`
	// Rate (records per second) and Burst (records) override the ingest's
	// default quota when set (> 0).
	Rate  float64 `bson:"rate,omitempty" json:"rate,omitempty"`
	Burst int     `bson:"burst,omitempty" json:"burst,omitempty"`
}

// Active reports whether the producer's key is accepted.
func (p Producer) Active() bool { return p.Revoked.IsZero() }

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidName checks a producer name: 1-63 characters of a-z, 0-9, '.', '_'
// and '-', starting with a letter or a digit.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("producer name %q: use 1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or a digit", name)
	}
	return nil
}

// ValidQuota checks a quota override: 0 means the ingest's default.
func ValidQuota(rate float64, burst int) error {
	if rate < 0 || burst < 0 {
		return fmt.Errorf("quota: rate and burst must be 0 (the default) or positive, not %v and %d", rate, burst)
	}
	return nil
}

// NewKey returns a new random key.
func NewKey() (string, error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("producer key: %w", err)
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// ValidKey checks the form of a key given from outside (LOCAL_PRODUCER_KEY):
// at least 32 characters, so that it is not guessable.
func ValidKey(key string) error {
	if len(key) < 32 || strings.ContainsAny(key, " \t\r\n") {
		return errors.New("a producer key must be at least 32 characters without spaces (make one with `vacunometro producers add`)")
	}
	return nil
}

// Hash is the stored form of a key.
func Hash(key string) [sha256.Size]byte { return sha256.Sum256([]byte(key)) }

func hashHex(key string) string { h := Hash(key); return hex.EncodeToString(h[:]) }

// ErrNotFound says no producer has the name.
var ErrNotFound = errors.New("no such producer")

// ErrExists says a producer has the name already.
var ErrExists = errors.New("a producer of that name exists")

// Registry manages the producers in MongoDB and mirrors them to Redis.
type Registry struct {
	coll *mongo.Collection
	rdb  redis.UniversalClient
}

// NewRegistry returns the registry of the producers in db, mirrored to rdb.
func NewRegistry(db *mongo.Database, rdb redis.UniversalClient) *Registry {
	return &Registry{coll: db.Collection(Collection), rdb: rdb}
}

const opTimeout = 15 * time.Second

// Add makes a producer with a new key and returns the key (shown once:
// only its hash is kept).
func (g *Registry) Add(ctx context.Context, name string, rate float64, burst int) (string, error) {
	key, err := NewKey()
	if err != nil {
		return "", err
	}
	if err := g.add(ctx, name, key, rate, burst); err != nil {
		return "", err
	}
	return key, nil
}

func (g *Registry) add(ctx context.Context, name, key string, rate float64, burst int) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := ValidQuota(rate, burst); err != nil {
		return err
	}
	p := Producer{Name: name, KeyHash: hashHex(key), Created: time.Now().UTC().Truncate(time.Millisecond), Rate: rate, Burst: burst}
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if _, err := g.coll.InsertOne(octx, p); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("producer %q: %w (revoke it, or pick another name)", name, ErrExists)
		}
		return fmt.Errorf("producer %q: store: %w", name, err)
	}
	return g.Publish(ctx)
}

// Ensure makes producer name accept key: it creates the producer (with
// rate and burst) when missing, or replaces its key hash when it holds
// another one. A revoked producer stays revoked. It reports whether
// anything changed. `up` calls it for its local producer.
func (g *Registry) Ensure(ctx context.Context, name, key string, rate float64, burst int) (changed bool, err error) {
	if err := ValidKey(key); err != nil {
		return false, err
	}
	p, err := g.Get(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		if err := g.add(ctx, name, key, rate, burst); err != nil && !errors.Is(err, ErrExists) {
			return false, err
		}
		return true, nil
	case err != nil:
		return false, err
	case p.KeyHash == hashHex(key):
		return false, g.Publish(ctx)
	}
	if err := g.update(ctx, name, bson.D{{Key: "key_sha256", Value: hashHex(key)}}); err != nil {
		return false, err
	}
	return true, nil
}

// Get returns one producer.
func (g *Registry) Get(ctx context.Context, name string) (Producer, error) {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var p Producer
	err := g.coll.FindOne(octx, bson.D{{Key: "_id", Value: name}}).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return p, fmt.Errorf("producer %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("producer %q: %w", name, err)
	}
	return p, nil
}

// List returns every producer, by name.
func (g *Registry) List(ctx context.Context) ([]Producer, error) {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	cur, err := g.coll.Find(octx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("producers: list: %w", err)
	}
	var out []Producer
	if err := cur.All(octx, &out); err != nil {
		return nil, fmt.Errorf("producers: list: %w", err)
	}
	return out, nil
}

// Revoke stops the producer's key from working (on every ingest instance
// within about RefreshEvery). Revoking a revoked producer changes nothing.
func (g *Registry) Revoke(ctx context.Context, name string) (Producer, error) {
	p, err := g.Get(ctx, name)
	if err != nil {
		return p, err
	}
	if !p.Active() {
		return p, g.Publish(ctx)
	}
	p.Revoked = time.Now().UTC().Truncate(time.Millisecond)
	return p, g.update(ctx, name, bson.D{{Key: "revoked", Value: p.Revoked}})
}

// SetQuota changes the producer's quota (0: the ingest's default).
func (g *Registry) SetQuota(ctx context.Context, name string, rate float64, burst int) error {
	if err := ValidQuota(rate, burst); err != nil {
		return err
	}
	return g.update(ctx, name, bson.D{{Key: "rate", Value: rate}, {Key: "burst", Value: burst}})
}

func (g *Registry) update(ctx context.Context, name string, set bson.D) error {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	res, err := g.coll.UpdateOne(octx, bson.D{{Key: "_id", Value: name}}, bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return fmt.Errorf("producer %q: update: %w", name, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("producer %q: %w", name, ErrNotFound)
	}
	return g.Publish(ctx)
}

// entry is a producer in the Redis mirror.
type entry struct {
	Hash    string  `json:"h"`
	Revoked bool    `json:"r,omitempty"`
	Rate    float64 `json:"rate,omitempty"`
	Burst   int     `json:"burst,omitempty"`
}

// Publish writes the whole table to the Redis mirror, replacing it in one
// transaction (a producer deleted from MongoDB disappears from it too).
func (g *Registry) Publish(ctx context.Context) error {
	all, err := g.List(ctx)
	if err != nil {
		return err
	}
	return PublishTable(ctx, g.rdb, all)
}

// New returns an active producer with key (for PublishTable in tests and
// tools; Registry.Add stores one).
func New(name, key string) Producer {
	return Producer{Name: name, KeyHash: hashHex(key), Created: time.Now().UTC()}
}

// PublishTable replaces the Redis mirror with all.
func PublishTable(ctx context.Context, rdb redis.UniversalClient, all []Producer) error {
	fields := make([]any, 0, 2*len(all))
	for _, p := range all {
		b, _ := json.Marshal(entry{Hash: p.KeyHash, Revoked: !p.Active(), Rate: p.Rate, Burst: p.Burst})
		fields = append(fields, p.Name, string(b))
	}
	octx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := rdb.TxPipelined(octx, func(p redis.Pipeliner) error {
		p.Del(octx, schema.ProducersKey)
		if len(fields) > 0 {
			p.HSet(octx, schema.ProducersKey, fields...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("producers: publish to redis: %w", err)
	}
	return nil
}

// Sync publishes the table every `every` until ctx ends, so that a Redis
// wiped or replaced gets the key table back within that time.
func (g *Registry) Sync(ctx context.Context, every time.Duration, onErr func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := g.Publish(ctx); err != nil && ctx.Err() == nil && onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
