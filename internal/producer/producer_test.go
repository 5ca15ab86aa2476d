package producer_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/vacunometro/vacunometro/internal/producer"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

func TestValidName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"local", true}, {"site-gt01.hospital_2", true}, {"0abc", true},
		{"", false}, {"-x", false}, {"Site", false}, {"a b", false}, {strings.Repeat("a", 64), false}, {"ñ", false},
	} {
		if err := producer.ValidName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// The registry keeps only key hashes in MongoDB, publishes the table to
// Redis, and what it does there is what every ingest's Keys sees.
func TestRegistryAddRevokeEnsure(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t, false).Client(t)
	uri, db := testenv.Mongo(t)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	reg := producer.NewRegistry(client.Database(db), rdb)
	keys := producer.NewKeys(rdb, testenv.Logger(t))

	key, err := reg.Add(ctx, "site-a", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Add(ctx, "site-a", 0, 0); !errors.Is(err, producer.ErrExists) {
		t.Fatalf("a second add of the same name: %v, want ErrExists", err)
	}
	if err := keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	id, err := keys.CheckKey(key)
	if err != nil || id.Name != "site-a" || id.Rate != 50 || id.Burst != 100 {
		t.Fatalf("CheckKey = %+v, %v", id, err)
	}
	// Nothing stored holds the key itself.
	raw, err := client.Database(db).Collection(producer.Collection).FindOne(ctx, map[string]any{"_id": "site-a"}).Raw()
	if err != nil || strings.Contains(raw.String(), key) || strings.Contains(raw.String(), key[5:]) {
		t.Fatalf("the stored producer: %v %v", raw, err)
	}
	mirror, _ := rdb.HGetAll(ctx, "{vac}:producers").Result()
	if strings.Contains(mirror["site-a"], key[5:]) {
		t.Fatal("the Redis mirror holds the key")
	}

	p, err := reg.Revoke(ctx, "site-a")
	if err != nil || p.Active() {
		t.Fatalf("revoke: %+v %v", p, err)
	}
	_ = keys.Load(ctx)
	if _, err := keys.CheckKey(key); !errors.Is(err, producer.ErrRevoked) {
		t.Fatalf("after revoke: %v, want ErrRevoked", err)
	}
	if _, err := reg.Revoke(ctx, "nobody"); !errors.Is(err, producer.ErrNotFound) {
		t.Fatalf("revoke of an unknown producer: %v", err)
	}

	// Ensure: made once, unchanged with the same key, the key replaced by another.
	k1, _ := producer.NewKey()
	k2, _ := producer.NewKey()
	for i, tt := range []struct {
		key     string
		changed bool
	}{{k1, true}, {k1, false}, {k2, true}} {
		changed, err := reg.Ensure(ctx, "local", tt.key, 10, 20)
		if err != nil || changed != tt.changed {
			t.Fatalf("Ensure %d: changed %v, %v; want %v", i, changed, err, tt.changed)
		}
	}
	_ = keys.Load(ctx)
	if _, err := keys.CheckKey(k1); !errors.Is(err, producer.ErrUnknownKey) {
		t.Fatalf("the replaced key: %v", err)
	}
	if _, err := keys.CheckKey(k2); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	if _, err := reg.Ensure(ctx, "local", "short", 0, 0); err == nil {
		t.Fatal("a short key was accepted")
	}
	all, err := reg.List(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "local" || all[1].Name != "site-a" {
		t.Fatalf("list: %+v %v", all, err)
	}

	// A wiped Redis gets the table back from the next Publish (Sync).
	if err := rdb.Del(ctx, "{vac}:producers").Err(); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	reg.Sync(sctx, 100*time.Millisecond, func(err error) { t.Log(err) }) // the last may meet the deadline
	cancel()
	_ = keys.Load(ctx)
	if _, err := keys.CheckKey(k2); err != nil {
		t.Fatalf("after a wipe and a sync: %v", err)
	}
}

// The bucket: a burst, then refusals with the wait, then the refill.
func TestQuotaBucket(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t, false).Client(t)
	q := producer.NewQuota(rdb, 0, 0) // default unlimited
	id := producer.Identity{Name: "p", Rate: 20, Burst: 10}
	ok := 0
	var last producer.Decision
	for range 15 {
		d, err := q.Take(ctx, id, 1)
		if err != nil {
			t.Fatal(err)
		}
		if d.OK {
			ok++
		} else {
			last = d
		}
	}
	if ok != 10 || last.RetryAfter <= 0 || last.RetryAfter > 100*time.Millisecond {
		t.Fatalf("%d of 15 taken from a burst of 10; wait %v", ok, last.RetryAfter)
	}
	time.Sleep(300 * time.Millisecond) // refills about 6
	ok = 0
	for range 10 {
		if d, _ := q.Take(ctx, id, 1); d.OK {
			ok++
		}
	}
	if ok < 4 || ok > 8 {
		t.Fatalf("after 300 ms at 20/s: %d taken, want about 6", ok)
	}
	if d, _ := q.Take(ctx, producer.Identity{Name: "free"}, 1000); !d.OK {
		t.Fatal("an unlimited default refused")
	}
	if d, _ := q.Take(ctx, id, 11); d.OK || !d.TooLarge {
		t.Fatalf("11 records over a burst of 10: %+v", d)
	}
}

// Many concurrent requests over the quota share the bucket: together they
// get the burst plus the refill over the run (within one lease), neither
// much less nor more. (The lease race that refused requests under the
// quota is TestQuotaUnderTheRateIsNeverRefused's: with demand this far
// over the rate, the old code still got 91% of the supply.)
func TestQuotaConcurrentRequestsGetTheWholeQuota(t *testing.T) {
	rdb := testenv.StartRedis(t, false).Client(t)
	q := producer.NewQuota(rdb, 0, 0)
	const rate, burst = 2000, 4000
	id := producer.Identity{Name: "busy", Rate: rate, Burst: burst}
	start := time.Now()
	taken, refused := hammer(t, q, id, 500*time.Millisecond, 0)
	elapsed := time.Since(start).Seconds()
	supply := burst + rate*elapsed
	lease := float64(min(rate/20, burst/10))
	if float64(taken) < 0.9*supply || float64(taken) > supply+lease+64 {
		t.Fatalf("64 concurrent requests took %d tokens in %.2f s (%d refused); the bucket supplied %.0f (+ a lease of %.0f)",
			taken, elapsed, refused, supply, lease)
	}
	if refused == 0 {
		t.Fatalf("demand over the quota was never refused (%d taken)", taken)
	}
}

// slowRedis adds a round trip's worth of latency to every command (Redis
// far away, or busy with fsyncs as under make bench).
type slowRedis struct{ d time.Duration }

func (h slowRedis) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h slowRedis) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { time.Sleep(h.d); return next(ctx, cmd) }
}
func (h slowRedis) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// Demand well under the quota is never refused, however many requests
// find the lease empty during one slow trip to Redis.
func TestQuotaUnderTheRateIsNeverRefused(t *testing.T) {
	rdb := testenv.StartRedis(t, false).Client(t)
	rdb.AddHook(slowRedis{5 * time.Millisecond})
	q := producer.NewQuota(rdb, 0, 0)
	const rate, burst = 20000, 40000
	id := producer.Identity{Name: "steady", Rate: rate, Burst: burst}
	// 64 requests, each every 20 ms: about 3,000 records/s, a sixth of the rate.
	taken, refused := hammer(t, q, id, 1500*time.Millisecond, 20*time.Millisecond)
	if refused > 0 {
		t.Fatalf("%d of %d requests refused at a sixth of a quota of %d records/s", refused, taken+refused, rate)
	}
}

// hammer runs 64 concurrent requests of one record each against q for d,
// each pausing between requests, and returns how many were taken and
// refused.
func hammer(t *testing.T, q *producer.Quota, id producer.Identity, d, pause time.Duration) (taken, refused int) {
	t.Helper()
	var mu sync.Mutex
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				d, err := q.Take(context.Background(), id, 1)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if d.OK {
					taken++
				} else {
					refused++
				}
				mu.Unlock()
				time.Sleep(pause)
			}
		}()
	}
	wg.Wait()
	return taken, refused
}
