//go:build !noembed

package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// TestLookupPostgresUsesIndex proves on FerretDB/PostgreSQL, by PostgreSQL's
// own counters of the records table, that the repair's read (Lookup) of k
// ids reads O(k) rows once postgres_index.sql ran, where without the index
// every id is a sequential scan of all n rows. It follows the deployment
// the script describes: run once on the empty database before FerretDB
// connects, again once the collection exists, FerretDB not restarted: its
// sessions, which had already run the find as a scan many times, must use
// the new index at once (a cached generic plan would not).
func TestLookupPostgresUsesIndex(t *testing.T) {
	const n, k, before = 20_000, 200, 100
	ctx := context.Background()
	f := testenv.StartFerretPG(t)
	f.IndexRecords("vacunometro") // no FerretDB database yet: sets plan_cache_mode
	f.Restart()                   // FerretDB's sessions opened after it
	st := openStore(t, f.URI, "vacunometro")
	defer st.Close(ctx)
	ids := fillRecords(t, st, n)
	table := f.CollectionTable("vacunometro", store.Collection)
	want := make([]string, 0, k)
	for i := 0; i < k-10; i++ {
		want = append(want, ids[(i*7919)%n])
	}
	for i := 0; i < 10; i++ {
		want = append(want, fmt.Sprintf("missing-%d", i))
	}

	// Without the index: FerretDB's find is a scan of the table per id.
	base := f.Settled(table)
	if _, err := st.Lookup(ctx, ids[n-before:]); err != nil {
		t.Fatal(err)
	}
	f.StatsUntil(table, base, 15*time.Second, func(d testenv.TableStats) bool { return d.SeqScan >= before })
	d := f.Settled(table).Sub(base)
	t.Logf("without the index: %d ids: %+v", before, d)
	if d.SeqScan < before || d.SeqTupRead < before*n {
		t.Fatalf("expected %d sequential scans of %d rows without the index (the test would not see a scan): %+v", before, n, d)
	}

	// What the processes that repair the view check at start (and warn
	// about): the find by _id is planned as a scan whose cost grows with
	// the table.
	if p, err := st.ExplainIDFind(ctx); err != nil || !p.Scan || p.Cost < store.ScanCostWarning {
		t.Fatalf("without the index, at %d documents: plan %+v, %v; want a scan costing at least %d", n, p, err, store.ScanCostWarning)
	}

	// With it, FerretDB's sessions kept.
	f.IndexRecords("vacunometro")
	base = f.Settled(table)
	got, err := st.Lookup(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != k-10 {
		t.Fatalf("lookup of %d ids (%d missing): %d found", k, 10, len(got))
	}
	for _, g := range got {
		if g.Batch != "b1" || !strings.HasPrefix(g.ID, "lk-") || g.Department != "Guatemala" {
			t.Fatalf("lookup returned %+v", g)
		}
	}
	f.StatsUntil(table, base, 15*time.Second, func(d testenv.TableStats) bool { return d.IdxScan >= k })
	d = f.Settled(table).Sub(base)
	t.Logf("with the index: %d ids in %d rows: %+v", k, n, d)
	if d.IdxScan < k {
		t.Fatalf("expected %d index scans, one per id: %+v", k, d)
	}
	if d.SeqScan != 0 || d.SeqTupRead != 0 {
		t.Fatalf("the lookup scanned the table: %+v", d)
	}
	if d.IdxTupFetch > 2*k {
		t.Fatalf("the lookup of %d ids fetched %d rows by index", k, d.IdxTupFetch)
	}

	// What keeps a one-row lookup cheap at any size (see the script).
	conf := f.Query(`SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting
		WHERE setrole = 0 AND setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	for _, want := range []string{"plan_cache_mode=force_custom_plan", "jit=off", "max_parallel_workers_per_gather=0"} {
		if !strings.Contains(conf, want) {
			t.Fatalf("the database's settings %q lack %s", conf, want)
		}
	}

	// FerretDB's own explain of the find Lookup sends shows PostgreSQL's plan.
	plan, err := st.ExplainIDFind(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("explain of a find by _id: %s", plan.Raw)
	if !strings.Contains(plan.Raw, "_vac_id_gin") || plan.Scan {
		t.Fatalf("FerretDB's find by _id is not planned on the GIN index: %s", plan.Raw)
	}
}

// BenchmarkLookupPostgres is BenchmarkLookup on FerretDB/PostgreSQL with
// postgres_index.sql applied, at each collection size of
// VAC_BENCH_PG_DOCS (default 10000,200000): the cost per id should not grow
// with the collection. It reports, from PostgreSQL's counters, sequential
// scans per op (expected 0) and rows read per op (expected 1,000: the ids).
func BenchmarkLookupPostgres(b *testing.B) {
	sizes := []int{10_000, 200_000}
	if v := os.Getenv("VAC_BENCH_PG_DOCS"); v != "" {
		sizes = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 2000 {
				b.Fatalf("VAC_BENCH_PG_DOCS: %q", v)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("docs=%d", n), func(b *testing.B) {
			ctx := context.Background()
			f := testenv.StartFerretPG(b)
			st, err := store.Open(ctx, f.URI, "vacunometro")
			if err != nil {
				b.Fatal(err)
			}
			ids := fillRecords(b, st, n)
			_ = st.Close(ctx)
			f.IndexRecords("vacunometro")
			f.Query("ANALYZE")
			f.Restart()
			st = openStore(b, f.URI, "vacunometro")
			defer st.Close(ctx)
			table := f.CollectionTable("vacunometro", store.Collection)
			base := f.Settled(table)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := (i * 1000) % (n - 1000)
				got, err := st.Lookup(ctx, ids[start:start+1000])
				if err != nil || len(got) != 1000 {
					b.Fatalf("lookup: %d, %v", len(got), err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*1000), "µs/id")
			d := f.StatsUntil(table, base, 15*time.Second, func(d testenv.TableStats) bool { return d.IdxScan >= int64(b.N*1000) })
			b.ReportMetric(float64(d.SeqScan)/float64(b.N), "seqscans/op")
			b.ReportMetric(float64(d.SeqTupRead+d.IdxTupFetch)/float64(b.N), "rows/op")
		})
	}
}

// TestLookupBatchPostgres proves that the repair's read of one batch
// (LookupBatch) on FerretDB/PostgreSQL is one index scan that reads that
// batch's rows once postgres_index.sql ran, and that it answers the same
// before (one exact-_id find per id): the batch's documents among the
// ids, not those other batches stored, not ids never stored.
func TestLookupBatchPostgres(t *testing.T) {
	const n, per = 20_000, 1000
	ctx := context.Background()
	f := testenv.StartFerretPG(t)
	f.IndexRecords("vacunometro")
	f.Restart()
	st := openStore(t, f.URI, "vacunometro")
	defer st.Close(ctx)
	now := time.Now().UTC()
	for b := 0; b < n/per; b++ {
		part := make([]record.Record, per)
		for i := range part {
			part[i] = record.Record{ID: fmt.Sprintf("r-%d", b*per+i), Name: "Ana", DepartmentCode: "GT-GU", Department: "Guatemala",
				Age: 30, Vaccine: "Moderna", Dose: 1, ReceivedAt: now, Route: "redis"}
		}
		if _, err := st.Insert(ctx, fmt.Sprintf("batch-%d", b), part); err != nil {
			t.Fatal(err)
		}
	}
	// The intent of batch-7: its own 1,000 ids, 50 ids batch-3 had
	// stored first (its duplicates) and 20 ids never stored.
	ids := make([]string, 0, per+70)
	for i := 0; i < per; i++ {
		ids = append(ids, fmt.Sprintf("r-%d", 7*per+i))
	}
	for i := 0; i < 50; i++ {
		ids = append(ids, fmt.Sprintf("r-%d", 3*per+i))
	}
	for i := 0; i < 20; i++ {
		ids = append(ids, fmt.Sprintf("never-%d", i))
	}
	check := func(when string) {
		t.Helper()
		got, err := st.LookupBatch(ctx, "batch-7", ids)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		seen := map[string]bool{}
		for _, g := range got {
			if g.Batch != "batch-7" || seen[g.ID] || g.Department != "Guatemala" {
				t.Fatalf("%s: returned %+v (again: %v)", when, g, seen[g.ID])
			}
			seen[g.ID] = true
		}
		if len(got) != per {
			t.Fatalf("%s: %d documents of batch-7, want %d", when, len(got), per)
		}
	}
	table := f.CollectionTable("vacunometro", store.Collection)

	// Without the batch index (the table exists only now): one find per id.
	check("without the index")

	f.IndexRecords("vacunometro")
	// FerretDB's idle sessions publish their counters of the scans above
	// up to 10 s late; closing them publishes them now.
	f.Restart()
	// The store asked the backend about finds by batch above and keeps the
	// answer a minute: a new store asks again.
	st2 := openStore(t, f.URI, "vacunometro")
	defer st2.Close(ctx)
	st = st2
	base := f.Settled(table)
	check("with the index")
	d := f.StatsUntil(table, base, 15*time.Second, func(d testenv.TableStats) bool { return d.IdxTupFetch >= per })
	t.Logf("with the index: one batch of %d in %d rows: %+v", per, n, d)
	if d.SeqScan != 0 || d.SeqTupRead != 0 {
		t.Fatalf("the batch's read scanned the table: %+v", d)
	}
	if d.IdxScan > 2 {
		t.Fatalf("the batch's read took %d index scans, want one query for the batch: %+v", d.IdxScan, d)
	}
	if d.IdxTupFetch > per+per/10 {
		t.Fatalf("the batch's read fetched %d rows, for a batch of %d", d.IdxTupFetch, per)
	}
	p, pushdown, err := store.ExplainBatchFind(ctx, st)
	if err != nil || !pushdown || p.Scan || !strings.Contains(p.Raw, "_vac_batch_gin") {
		t.Fatalf("FerretDB's find by batch is not planned on the batch index: pushdown %v, %v: %s", pushdown, err, p.Raw)
	}
}
