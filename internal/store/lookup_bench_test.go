//go:build !noembed

package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/embedded"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// BenchmarkLookup measures the repair's read: exact-_id lookups of 1,000
// ids in a collection of VAC_BENCH_DOCS documents (default 50,000) on the
// embedded FerretDB with its _id index, as `up` runs it.
func BenchmarkLookup(b *testing.B) {
	n := 50_000
	if v, err := strconv.Atoi(os.Getenv("VAC_BENCH_DOCS")); err == nil {
		n = v
	}
	ctx := context.Background()
	dir := filepath.Join(b.TempDir(), "mongo")
	f, err := embedded.StartFerretDB(ctx, dir, "127.0.0.1:0", testenv.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Stop()
	st := openStore(b, f.URI, "vacunometro")
	defer st.Close(ctx)
	ids := fillRecords(b, st, n)
	if err := embedded.IndexIDs(ctx, dir, "vacunometro", "records"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := (i * 1000) % (n - 1000)
		got, err := st.Lookup(ctx, ids[start:start+1000])
		if err != nil || len(got) != 1000 {
			b.Fatalf("lookup: %d, %v", len(got), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*1000), "µs/id")
}

// openStore opens the store at uri, database db, or ends the test.
func openStore(tb testing.TB, uri, db string) *store.Store {
	tb.Helper()
	st, err := store.Open(context.Background(), uri, db)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// fillRecords stores n records lk-0 .. lk-(n-1) in batch "b1" and returns their ids.
func fillRecords(tb testing.TB, st *store.Store, n int) []string {
	tb.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	ids := make([]string, 0, n)
	for i := 0; i < n; i += 1000 {
		part := make([]record.Record, 0, 1000)
		for k := i; k < min(i+1000, n); k++ {
			id := fmt.Sprintf("lk-%d", k)
			ids = append(ids, id)
			part = append(part, record.Record{ID: id, Name: "Ana", DepartmentCode: "GT-GU", Department: "Guatemala",
				Age: 30, Vaccine: "Moderna", Dose: 1, ReceivedAt: now, Route: "redis"})
		}
		if _, err := st.Insert(ctx, "b1", part); err != nil {
			tb.Fatal(err)
		}
	}
	return ids
}
