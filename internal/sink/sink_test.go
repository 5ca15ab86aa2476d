package sink_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/sink"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/testenv"
	"github.com/vacunometro/vacunometro/internal/testenv/sinkenv"
)

// setup opens a real sink: FerretDB and a redis-server of the test's own.
func setup(t *testing.T) *sinkenv.Env { return sinkenv.New(t) }

func makeRecords(n int, prefix string) []record.Record {
	cat := catalog.Default()
	deps := cat.Departments()
	vacs := cat.Vaccines()
	routes := route.All
	out := make([]record.Record, n)
	for i := range out {
		d := deps[(i*7)%len(deps)]
		out[i] = record.Record{
			ID: fmt.Sprintf("%s-%d", prefix, i), Name: fmt.Sprintf("Persona Numero %d Lopez", i),
			DepartmentCode: d.Code, Department: d.Name, Age: (i * 13) % 121,
			Vaccine: vacs[i%len(vacs)].Name, Dose: 1 + i%4, Route: routes[i%3],
			ReceivedAt: time.Now().UTC().Truncate(time.Millisecond),
		}
	}
	return out
}

func TestSinkStoresAndCountsEachRecordOnce(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	recs := makeRecords(2500, "a")
	var wg sync.WaitGroup
	// Concurrent callers, and every record sent twice: duplicates are ignored.
	for round := 0; round < 2; round++ {
		for i := 0; i < len(recs); i += 100 {
			wg.Add(1)
			go func(part []record.Record) {
				defer wg.Done()
				if err := e.Sink.Store(ctx, part); err != nil {
					t.Error(err)
				}
			}(recs[i : i+100])
		}
	}
	wg.Wait()
	n, err := testenv.CountRecords(ctx, e.Store)
	if err != nil || n != int64(len(recs)) {
		t.Fatalf("MongoDB holds %d records (%v), want %d", n, err, len(recs))
	}
	snap, err := e.View.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := stats.Tally(recs).Diff(snap, true); len(diff) > 0 {
		t.Fatalf("snapshot differs from what was sent:\n%v", diff)
	}
	if len(snap.Latest) != 5 || snap.Latest[0].Name == "" || snap.Latest[0].Name == recs[0].Name {
		t.Fatalf("latest = %+v, want 5 masked records", snap.Latest)
	}
	if snap.UpdatedAt == nil || snap.RecordsPerSecond < 0 {
		t.Fatalf("updated_at %v, rps %v", snap.UpdatedAt, snap.RecordsPerSecond)
	}
}

func TestReusedIDKeepsTheFirstRecord(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	first := makeRecords(1, "same")
	second := append([]record.Record(nil), first...)
	second[0].Vaccine = "Sputnik V"
	second[0].Dose = 3
	if first[0].Vaccine == "Sputnik V" {
		t.Fatal("test data: change the vaccine")
	}
	for _, r := range [][]record.Record{first, second} {
		if err := e.Sink.Store(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	snap, _ := e.View.Snapshot(ctx)
	if diff := stats.Tally(first).Diff(snap, true); len(diff) > 0 {
		t.Fatalf("second write with the same id changed the counts: %v", diff)
	}
}

// Records the sink could not store are counted as outcome "failed", next to
// fresh and duplicate: what `vacunometro rollout --by track` judges a release
// track's pods by.
func TestSinkCountsWhatItFailedToStore(t *testing.T) {
	ctx := context.Background()
	uri, db := testenv.Mongo(t)
	st, err := store.Open(ctx, uri, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	rs := testenv.StartRedis(t, false)
	m := metrics.New()
	sk := sink.New(st, stats.NewView(rs.Client(t), catalog.Default(), route.All), m, testenv.Logger(t), sink.Options{})
	t.Cleanup(sk.Close)

	if err := sk.Store(ctx, makeRecords(30, "ok")); err != nil {
		t.Fatal(err)
	}
	if err := sk.Store(ctx, makeRecords(10, "ok")); err != nil {
		t.Fatal(err)
	}
	rs.Kill() // the view is gone: no batch can be stored and counted
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sk.Store(sctx, makeRecords(7, "lost")); err == nil {
		t.Fatal("Store succeeded without Redis")
	}
	for outcome, want := range map[string]float64{"fresh": 30, "duplicate": 10, "failed": 7} {
		var pb dto.Metric
		if err := m.Stored.WithLabelValues(outcome).Write(&pb); err != nil {
			t.Fatal(err)
		}
		if got := pb.GetCounter().GetValue(); got != want {
			t.Errorf("vacunometro_sink_records_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}
