package stats_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/schema"
	"github.com/vacunometro/vacunometro/internal/sink"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/testenv"
	"github.com/vacunometro/vacunometro/internal/testenv/sinkenv"
)

// counting wraps the store and counts what the view asks of it.
type counting struct {
	*store.Store
	scans, lookups, lookedUp atomic.Int64
	block                    chan struct{} // when set, a scan waits for it to close
}

func (c *counting) ScanStored(ctx context.Context, n int, fn func([]store.Stored) error) error {
	c.scans.Add(1)
	if c.block != nil {
		<-c.block
	}
	return c.Store.ScanStored(ctx, n, fn)
}

func (c *counting) LookupBatch(ctx context.Context, batch string, ids []string) ([]store.Stored, error) {
	c.lookups.Add(1)
	c.lookedUp.Add(int64(len(ids)))
	return c.Store.LookupBatch(ctx, batch, ids)
}

type env struct {
	src  *counting
	rdb  *redis.Client
	view *stats.View
	sink *sink.Sink
}

func setup(t *testing.T) *env {
	t.Helper()
	e := sinkenv.New(t)
	return &env{src: &counting{Store: e.Store}, rdb: e.Redis.Client(t), view: e.View, sink: e.Sink}
}

func makeRecords(n int, prefix string) []record.Record {
	cat := catalog.Default()
	deps, vacs := cat.Departments(), cat.Vaccines()
	out := make([]record.Record, n)
	base := time.Date(2021, 3, 1, 5, 30, 0, 0, time.UTC)
	for i := range out {
		d := deps[(i*7)%len(deps)]
		out[i] = record.Record{
			ID: fmt.Sprintf("%s-%d", prefix, i), Name: fmt.Sprintf("Persona Numero %d Lopez", i),
			DepartmentCode: d.Code, Department: d.Name, Age: (i * 13) % 121,
			Vaccine: vacs[i%len(vacs)].Name, Dose: 1 + i%4, Route: route.All[i%len(route.All)],
			ReceivedAt: time.Now().UTC().Truncate(time.Millisecond),
		}
		if i%2 == 0 {
			out[i].VaccinatedAt = base.Add(time.Duration(i) * 17 * time.Minute)
		}
	}
	return out
}

func (e *env) store(t *testing.T, recs []record.Record) {
	t.Helper()
	for i := 0; i < len(recs); i += 250 {
		if err := e.sink.Store(context.Background(), recs[i:min(i+250, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *env) expect(t *testing.T, recs []record.Record) *stats.Snapshot {
	t.Helper()
	snap, err := e.view.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := stats.Tally(recs).Diff(snap, true); len(diff) > 0 {
		t.Fatalf("the view differs from what was stored: %v", diff)
	}
	return snap
}

func (e *env) rebuild(t *testing.T) stats.RebuildResult {
	t.Helper()
	res, err := e.view.Rebuild(context.Background(), e.src, stats.RebuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestRebuildAfterWipeGivesTheSameView(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	recs := makeRecords(3000, "w")
	e.store(t, recs)
	before := e.expect(t, recs)
	days, _ := e.rdb.HGetAll(ctx, schema.DaysKey).Result()
	if err := e.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	res := e.rebuild(t)
	if res.Scanned != 3000 || res.Counted != 3000 || res.Total != 3000 {
		t.Fatalf("rebuild = %+v", res)
	}
	after := e.expect(t, recs)
	if len(after.Latest) != 5 || after.Total != before.Total {
		t.Fatalf("rebuilt latest %d, total %d vs %d", len(after.Latest), after.Total, before.Total)
	}
	again, _ := e.rdb.HGetAll(ctx, schema.DaysKey).Result()
	if fmt.Sprint(again) != fmt.Sprint(days) || len(days) == 0 {
		t.Fatalf("daily counts after the rebuild differ: %d fields vs %d", len(again), len(days))
	}
	// A second full rebuild of a right view changes nothing.
	e.rebuild(t)
	e.expect(t, recs)
}

func TestRedeliveriesAndOldRetriesAreNotCountedAgain(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	recs := makeRecords(400, "r")
	e.store(t, recs)
	// A redelivery of everything, concurrently, as a route does after a
	// lost ack, then a client retry of the same ids much later: MongoDB
	// already holds them, their batches committed, nothing is counted.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); e.store(t, recs) }()
	}
	wg.Wait()
	e.expect(t, recs)
	// The state behind the guarantee is only the batches in flight: none.
	if n, _ := e.rdb.HLen(ctx, schema.PendingKey).Result(); n != 0 {
		t.Fatalf("%d intents left after every commit", n)
	}
	if n, _ := e.rdb.Exists(ctx, schema.CountedKey).Result(); n != 0 {
		t.Fatal("a per-record set of counted ids exists")
	}
}

func TestTwoSinksRacingOnTheSameIDsCountEachOnce(t *testing.T) {
	e := setup(t)
	other := sink.New(e.src.Store, e.view, metrics.New(), testenv.Logger(t), sink.Options{Owner: "other-sink"})
	t.Cleanup(other.Close)
	recs := makeRecords(1000, "race")
	var wg sync.WaitGroup
	for _, s := range []*sink.Sink{e.sink, other, e.sink, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < len(recs); i += 10 {
				if err := s.Store(context.Background(), recs[i:i+10]); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	e.expect(t, recs)
}

func TestACrashBetweenMongoDBAndRedisIsRepairedFromTheIntentAlone(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	counted := makeRecords(300, "ok")
	e.store(t, counted)
	// A sink wrote its intent and MongoDB took the batch, then the process
	// died before the commit: a crash between the two writes. Part of the
	// batch were retries of records stored before (not this batch's).
	crashed := append(makeRecords(120, "lost"), counted[:30]...)
	ids := make([]string, len(crashed))
	for i, r := range crashed {
		ids[i] = r.ID
	}
	if err := e.view.Intend(ctx, "dead-batch", "dead-owner", ids); err != nil {
		t.Fatal(err)
	}
	if _, err := e.src.Insert(ctx, "dead-batch", crashed); err != nil {
		t.Fatal(err)
	}
	// The route redelivers them: MongoDB holds them, this batch counts none.
	e.store(t, crashed)
	e.expect(t, counted)
	// The owner's heartbeat lapses; the repair reads only that batch's ids.
	e.rdb.Del(ctx, fmt.Sprintf(schema.OwnerKeyFmt, "dead-owner"))
	later := time.Now().Add(stats.InsertDeadline + 2*time.Second)
	k := stats.NewKeeper(e.view, e.src, testenv.Logger(t), stats.KeeperOptions{Now: func() time.Time { return later }})
	n, err := k.Repair(ctx)
	if err != nil || n != 120 {
		t.Fatalf("Repair = %d, %v; want the 120 records the dead batch stored", n, err)
	}
	if got := e.src.lookedUp.Load(); got != int64(len(ids)) {
		t.Fatalf("the repair looked up %d ids, want %d (only the intent's)", got, len(ids))
	}
	if e.src.scans.Load() != 0 {
		t.Fatal("the repair scanned the collection")
	}
	e.expect(t, append(counted, crashed[:120]...))
	// Repairing again, or the late commit of the dead sink, counts nothing.
	if n, _ := k.Repair(ctx); n != 0 {
		t.Fatalf("second repair counted %d", n)
	}
	if _, err := e.view.Commit(ctx, "dead-batch", crashed[:120]); !errors.Is(err, stats.ErrCommitted) {
		t.Fatalf("late commit: %v, want ErrCommitted", err)
	}
	e.expect(t, append(counted, crashed[:120]...))
}

func TestAnIntentOfALiveSinkIsLeftAlone(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	recs := makeRecords(10, "slow")
	if err := e.view.Intend(ctx, "slow-batch", "alive", []string{recs[0].ID}); err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(stats.InsertDeadline + 2*time.Second)
	k := stats.NewKeeper(e.view, e.src, testenv.Logger(t), stats.KeeperOptions{Now: func() time.Time { return soon }})
	if n, err := k.Repair(ctx); n != 0 || err != nil || e.src.lookups.Load() != 0 {
		t.Fatalf("Repair of a live sink's intent = %d, %v, %d lookups", n, err, e.src.lookups.Load())
	}
}

func TestARestartReadsNoRecords(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	recs := makeRecords(500, "restart")
	e.store(t, recs)
	e.rebuild(t) // the view now carries the records' epoch
	e.src.scans.Store(0)
	// A process starting on a right view: the keeper checks it in O(1)
	// (epochs, intents) and reads no record.
	k := stats.NewKeeper(e.view, e.src, testenv.Logger(t), stats.KeeperOptions{AutoRebuild: true, Tick: 50 * time.Millisecond})
	kctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	k.Run(kctx)
	cancel()
	if s, l := e.src.scans.Load(), e.src.lookups.Load(); s != 0 || l != 0 {
		t.Fatalf("a start on a right view made %d scans and %d lookups", s, l)
	}
	e.expect(t, recs)
	// On a wiped Redis the same keeper finds the view lost and rebuilds it.
	if err := e.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	kctx, cancel = context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); k.Run(kctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		snap, _ := e.view.Snapshot(ctx)
		if snap != nil && snap.Total == int64(len(recs)) && snap.Rebuilding == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the keeper did not rebuild a wiped view")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if e.src.scans.Load() != 1 {
		t.Fatalf("%d scans to rebuild a wiped view, want 1", e.src.scans.Load())
	}
	e.expect(t, recs)
}

func TestReadersNeverSeeTheTotalGoDownDuringARebuild(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	first := makeRecords(2000, "base")
	e.store(t, first)
	e.src.block = make(chan struct{})
	live := makeRecords(1500, "live")
	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		lowered atomic.Int64
		seen    atomic.Int64
		sawFlag atomic.Bool
	)
	wg.Add(1)
	go func() { // a reader polling the public figures
		defer wg.Done()
		last := int64(0)
		for !stop.Load() {
			snap, err := e.view.Snapshot(ctx)
			if err == nil {
				if snap.Total < last {
					lowered.Store(last - snap.Total)
				}
				last = snap.Total
				seen.Add(1)
				if snap.Rebuilding != nil {
					sawFlag.Store(true)
				}
			}
		}
	}()
	done := make(chan stats.RebuildResult, 1)
	go func() {
		res, err := e.view.Rebuild(ctx, e.src, stats.RebuildOptions{BatchSize: 100})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	// A second rebuild meanwhile is refused with the first one's progress.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st, _ := e.view.RebuildState(ctx); st != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rebuild did not start")
		}
	}
	var running *stats.RebuildRunningError
	if _, err := e.view.Rebuild(ctx, e.src, stats.RebuildOptions{}); !errors.As(err, &running) || running.Status == nil {
		t.Errorf("second rebuild: %v, want a RebuildRunningError with status", err)
	}
	// Live traffic goes on during the scan.
	e.store(t, live[:700])
	close(e.src.block)
	e.store(t, live[700:])
	<-done
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if d := lowered.Load(); d > 0 {
		t.Fatalf("a reader saw the total go down by %d during the rebuild", d)
	}
	if !sawFlag.Load() || seen.Load() < 10 {
		t.Fatalf("the reader saw %d snapshots, rebuilding flag %v", seen.Load(), sawFlag.Load())
	}
	e.expect(t, append(first, live...))
}

func TestALostViewShowsTheSavedFiguresUntilRebuilt(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	recs := makeRecords(800, "saved")
	e.store(t, recs)
	e.rebuild(t)
	// The keeper saves the public figures outside Redis.
	k := stats.NewKeeper(e.view, e.src, testenv.Logger(t), stats.KeeperOptions{Tick: 20 * time.Millisecond, SaveEvery: 20 * time.Millisecond})
	kctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	k.Run(kctx)
	cancel()
	if err := e.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	e.src.block = make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := e.view.Rebuild(ctx, e.src, stats.RebuildOptions{})
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		snap, err := e.view.Snapshot(ctx)
		if err == nil && snap.Rebuilding != nil {
			if snap.Total != int64(len(recs)) || snap.Rebuilding.ProvisionalAsOf == nil {
				t.Fatalf("while rebuilding a lost view: total %d (want the saved %d), provisional %v",
					snap.Total, len(recs), snap.Rebuilding.ProvisionalAsOf)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rebuild did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// What is counted meanwhile adds to the saved figures.
	more := makeRecords(50, "meanwhile")
	e.store(t, more)
	if snap, _ := e.view.Snapshot(ctx); snap.Total != int64(len(recs)+len(more)) {
		t.Fatalf("saved figures plus live: %d, want %d", snap.Total, len(recs)+len(more))
	}
	close(e.src.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	snap := e.expect(t, append(recs, more...))
	if snap.Rebuilding != nil {
		t.Fatal("still rebuilding after the swap")
	}
}

func TestALeasedIntentOfADeadOwnerIsRepairedAtOnce(t *testing.T) {
	cases := []struct {
		name      string
		leased    bool
		ownerDies bool
		want      int
	}{
		{"leased, owner gone: counted at once", true, true, 40},
		{"leased, owner alive: left to its owner", true, false, 0},
		{"no lease, owner gone: waits out the insert deadline", false, true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := setup(t)
			ctx := context.Background()
			recs := makeRecords(40, "lease")
			ids := make([]string, len(recs))
			for i, r := range recs {
				ids[i] = r.ID
			}
			owner := fmt.Sprintf("crashed-%d", time.Now().UnixNano())
			if c.leased {
				if err := e.view.IntendLeased(ctx, "b-"+owner, stats.NewLease(owner), ids); err != nil {
					t.Fatal(err)
				}
			} else if err := e.view.Intend(ctx, "b-"+owner, owner, ids); err != nil {
				t.Fatal(err)
			}
			if _, err := e.src.Insert(ctx, "b-"+owner, recs); err != nil {
				t.Fatal(err)
			}
			if c.ownerDies {
				e.rdb.Del(ctx, "{vac}:owner:"+owner) // its heartbeat lapsed
			}
			// One second after the intent: well inside InsertDeadline.
			soon := time.Now().Add(time.Second)
			k := stats.NewKeeper(e.view, e.src, testenv.Logger(t), stats.KeeperOptions{Now: func() time.Time { return soon }})
			n, err := k.Repair(ctx)
			if err != nil || n != c.want {
				t.Fatalf("Repair = %d, %v; want %d", n, err, c.want)
			}
			if c.want > 0 {
				e.expect(t, recs)
			}
		})
	}
}

func TestALeaseLapsesWithoutHeartbeatsAndCutsItsInsertsOff(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	l := stats.NewLease("lapsing")
	if l.Context().Err() == nil {
		t.Fatal("a lease is live before its first heartbeat")
	}
	if err := e.view.Renew(ctx, l); err != nil {
		t.Fatal(err)
	}
	lctx := l.Context()
	if lctx.Err() != nil {
		t.Fatal("the lease lapsed right after a heartbeat")
	}
	ttl, err := e.rdb.PTTL(ctx, "{vac}:owner:lapsing").Result()
	if err != nil {
		t.Fatal(err)
	}
	// The key outlives the lease: Redis expires it at least the margin later.
	if left := time.Until(l.Until()); ttl-left < time.Second {
		t.Fatalf("heartbeat key expires in %s, the lease in %s: the key must outlive it", ttl, left)
	}
	select {
	case <-lctx.Done():
	case <-time.After(stats.HeartbeatTTL):
		t.Fatal("the lease did not lapse without heartbeats")
	}
	if n, _ := e.rdb.Exists(ctx, "{vac}:owner:lapsing").Result(); n != 1 {
		t.Fatal("the heartbeat key expired before the lease lapsed")
	}
	// A heartbeat afterwards starts a new term.
	if err := e.view.Renew(ctx, l); err != nil {
		t.Fatal(err)
	}
	if l.Context().Err() != nil {
		t.Fatal("a renewed lease stays lapsed")
	}
	l.Stop()
	if l.Context().Err() == nil {
		t.Fatal("a stopped lease is live")
	}
}

func TestSyntheticRecordsAreCountedApartAndInNoPublicFigure(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	real := makeRecords(60, "real")
	test := makeRecords(40, "smoke")
	for i := range test {
		test[i].Synthetic = true
	}
	// Mixed in the same batches, the test records last (the latest ones).
	all := append(append([]record.Record{}, real...), test...)
	e.store(t, all)
	check := func(when string) {
		t.Helper()
		snap := e.expect(t, all) // Tally leaves test records out of every figure but Synthetic
		if snap.Total != 60 || snap.Synthetic != 40 {
			t.Fatalf("%s: total %d, synthetic %d; want 60 and 40", when, snap.Total, snap.Synthetic)
		}
		for _, l := range snap.Latest {
			if strings.HasPrefix(l.ID, "smoke-") {
				t.Fatalf("%s: a test record is among the latest: %+v", when, l)
			}
		}
		if len(snap.Latest) == 0 {
			t.Fatalf("%s: no latest records", when)
		}
		days, err := stats.ReadDays(ctx, e.rdb, catalog.Default())
		if err != nil {
			t.Fatal(err)
		}
		if days.Total != 60 {
			t.Fatalf("%s: the daily series sums to %d doses, want the 60 real ones", when, days.Total)
		}
	}
	check("after the commits")
	if err := e.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	e.rebuild(t)
	check("after a rebuild")
}
