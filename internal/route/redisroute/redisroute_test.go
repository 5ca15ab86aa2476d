package redisroute_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/route/redisroute"
	"github.com/vacunometro/vacunometro/internal/route/routetest"
	"github.com/vacunometro/vacunometro/internal/testenv"
	"github.com/vacunometro/vacunometro/internal/testenv/sinkenv"
)

func workerOpts() redisroute.WorkerOptions {
	return redisroute.WorkerOptions{ClaimIdle: 500 * time.Millisecond, Block: 200 * time.Millisecond}
}

func startWorker(t *testing.T, rdb redis.UniversalClient, s route.Sink, opts redisroute.WorkerOptions) func() {
	w := redisroute.NewWorker(rdb, route.ConsumerDeps{Sink: s, Catalog: catalog.Default(), Metrics: metrics.New(), Log: testenv.Logger(t)}, opts)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = w.Run(ctx) }()
	return func() { cancel(); wg.Wait() }
}

func newHarness(t *testing.T) *routetest.Harness {
	rs := testenv.StartRedis(t, true)
	rdb := rs.Client(t)
	p := redisroute.NewProducer(rdb, redisroute.ProducerOptions{})
	t.Cleanup(func() { _ = p.Close() })
	n := 0
	return &routetest.Harness{
		Route:  p,
		Queued: true,
		Start: func(t *testing.T, s route.Sink) func() {
			n++
			o := workerOpts()
			o.Consumer = "worker-" + string(rune('a'+n))
			return startWorker(t, rdb, s, o)
		},
		Duplicate: func(t *testing.T, recs []record.Record) {
			data, _ := proto.Marshal(record.BatchToProto(recs))
			if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: redisroute.DefaultStream, Values: []any{"batch", data}}).Err(); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func TestConformance(t *testing.T) { routetest.Run(t, newHarness) }

// A worker that read entries and died before acknowledging them leaves them
// pending; another worker claims them after the idle time and stores them.
func TestPendingEntriesOfADeadConsumerAreClaimed(t *testing.T) {
	rs := testenv.StartRedis(t, true)
	rdb := rs.Client(t)
	ctx := context.Background()
	e := sinkenv.New(t)
	p := redisroute.NewProducer(rdb, redisroute.ProducerOptions{})
	defer p.Close()
	if err := rdb.XGroupCreateMkStream(ctx, redisroute.DefaultStream, redisroute.DefaultGroup, "0").Err(); err != nil {
		t.Fatal(err)
	}
	recs := routetest.Records(120, "pending", "redis")
	for i := 0; i < len(recs); i += 40 {
		if err := p.Deliver(ctx, recs[i:i+40]); err != nil {
			t.Fatal(err)
		}
	}
	// The dead consumer reads everything and never acks.
	got, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: redisroute.DefaultGroup, Consumer: "dead", Streams: []string{redisroute.DefaultStream, ">"}, Count: 100}).Result()
	if err != nil || len(got[0].Messages) == 0 {
		t.Fatalf("dead consumer read %v, %v", got, err)
	}
	pending, _ := rdb.XPending(ctx, redisroute.DefaultStream, redisroute.DefaultGroup).Result()
	if pending.Count == 0 {
		t.Fatal("nothing pending")
	}
	o := workerOpts()
	o.Consumer = "rescuer"
	stop := startWorker(t, rdb, e.Sink, o)
	defer stop()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, _ := testenv.CountRecords(ctx, e.Store)
		if n == int64(len(recs)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored %d of %d after the dead consumer's entries should have been claimed", n, len(recs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if pending, _ := rdb.XPending(ctx, redisroute.DefaultStream, redisroute.DefaultGroup).Result(); pending.Count != 0 {
		t.Fatalf("%d entries still pending", pending.Count)
	}
}

// Records acknowledged by XADD survive kill -9 of redis-server (AOF, fsync always).
func TestAcceptedEntriesSurviveRedisKill(t *testing.T) {
	rs := testenv.StartRedis(t, true)
	rdb := rs.Client(t)
	ctx := context.Background()
	p := redisroute.NewProducer(rdb, redisroute.ProducerOptions{})
	defer p.Close()
	recs := routetest.Records(300, "aof", "redis")
	for i := 0; i < len(recs); i += 30 {
		if err := p.Deliver(ctx, recs[i:i+30]); err != nil {
			t.Fatal(err)
		}
	}
	rs.Kill()
	rs.Start()
	e := sinkenv.New(t)
	stop := startWorker(t, rdb, e.Sink, workerOpts())
	defer stop()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, _ := testenv.CountRecords(ctx, e.Store)
		if n == int64(len(recs)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after redis-server was killed and restarted, %d of %d accepted records reached MongoDB", n, len(recs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
