//go:build !noembed

package stats_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/schema"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// TestARepairOnFerretDBPostgresReadsOnlyTheIntent: the repair of a crash
// between MongoDB and Redis, on FerretDB/PostgreSQL with
// store.PostgresIndexSQL applied, reads the dead batch's documents by its
// batch index (one index scan, about the rows that batch stored) and never
// scans the records table (PostgreSQL's own counters), whatever it holds.
func TestARepairOnFerretDBPostgresReadsOnlyTheIntent(t *testing.T) {
	const held = 20_000
	ctx := context.Background()
	f := testenv.StartFerretPG(t)
	f.IndexRecords("vacunometro") // before FerretDB's sessions: plan_cache_mode
	f.Restart()
	st, err := store.Open(ctx, f.URI, "vacunometro")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	old := makeRecords(held, "old")
	for i := 0; i < held; i += 1000 {
		if _, err := st.Insert(ctx, stats.NewBatchID(), old[i:i+1000]); err != nil {
			t.Fatal(err)
		}
	}
	f.IndexRecords("vacunometro") // the collection exists: its _id index
	table := f.CollectionTable("vacunometro", store.Collection)

	rdb := testenv.StartRedis(t, false).Client(t)
	view := stats.NewView(rdb, catalog.Default(), route.All)
	crashed := append(makeRecords(120, "lost"), old[:30]...)
	ids := make([]string, len(crashed))
	for i, r := range crashed {
		ids[i] = r.ID
	}
	if err := view.Intend(ctx, "dead-batch", "dead-owner", ids); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Insert(ctx, "dead-batch", crashed); err != nil {
		t.Fatal(err)
	}
	// The process dies: its heartbeat lapses.
	rdb.Del(ctx, fmt.Sprintf(schema.OwnerKeyFmt, "dead-owner"))
	base := f.Settled(table)
	later := time.Now().Add(stats.InsertDeadline + 2*time.Second)
	k := stats.NewKeeper(view, st, testenv.Logger(t), stats.KeeperOptions{Now: func() time.Time { return later }})
	n, err := k.Repair(ctx)
	if err != nil || n != 120 {
		t.Fatalf("Repair = %d, %v; want the 120 records the dead batch stored", n, err)
	}
	f.StatsUntil(table, base, 15*time.Second, func(d testenv.TableStats) bool { return d.IdxTupFetch >= 120 })
	d := f.Settled(table).Sub(base)
	t.Logf("repair of %d ids among %d documents: %+v", len(ids), held+120, d)
	if d.SeqScan != 0 || d.SeqTupRead != 0 {
		t.Fatalf("the repair scanned the records table: %+v", d)
	}
	if d.IdxScan < 1 || d.IdxScan > 2 || d.IdxTupFetch > int64(2*len(ids)) {
		t.Fatalf("the repair read %d rows in %d index scans for %d ids", d.IdxTupFetch, d.IdxScan, len(ids))
	}
	snap, err := view.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := stats.Tally(crashed[:120]).Diff(snap, true); len(diff) > 0 {
		t.Fatalf("the view after the repair differs from the dead batch's records: %v", diff)
	}
}
