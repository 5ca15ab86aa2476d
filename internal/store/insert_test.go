package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// Insert reports, by index, which records it stored and which ids MongoDB
// already held; a duplicate keeps the data and the batch it was first
// stored with.
func TestInsertReportsFreshAndDuplicate(t *testing.T) {
	ctx := context.Background()
	uri, db := testenv.Mongo(t)
	st := openStore(t, uri, db)
	defer st.Close(ctx)
	now := time.Now().UTC().Truncate(time.Millisecond)
	rec := func(id, name string) record.Record {
		return record.Record{ID: id, Name: name, DepartmentCode: "01", Department: "Guatemala", Age: 40,
			Vaccine: "Moderna", Dose: 1, ReceivedAt: now, Route: "redis", Producer: "local"}
	}
	for _, tc := range []struct {
		name       string
		batch      string
		recs       []record.Record
		fresh, dup []int
	}{
		{"all new", "b1", []record.Record{rec("a", "Ana"), rec("b", "Beto")}, []int{0, 1}, nil},
		{"some held", "b2", []record.Record{rec("c", "Carla"), rec("a", "Otra Ana"), rec("d", "Dora"), rec("b", "Otro Beto")}, []int{0, 2}, []int{1, 3}},
		{"all held", "b3", []record.Record{rec("d", "Dora")}, nil, []int{0}},
		{"twice in one batch", "b4", []record.Record{rec("e", "Elsa"), rec("e", "Elsa otra vez")}, []int{0}, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := st.Insert(ctx, tc.batch, tc.recs)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Fresh, tc.fresh) || !slices.Equal(res.Duplicate, tc.dup) {
				t.Fatalf("fresh %v duplicate %v, want %v and %v", res.Fresh, res.Duplicate, tc.fresh, tc.dup)
			}
		})
	}
	held, err := st.Lookup(ctx, []string{"a", "b", "c", "e", "zz"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.Stored{}
	for _, h := range held {
		got[h.ID] = h
	}
	for id, want := range map[string]struct{ name, batch string }{"a": {"Ana", "b1"}, "b": {"Beto", "b1"}, "c": {"Carla", "b2"}, "e": {"Elsa", "b4"}} {
		if h, ok := got[id]; !ok || h.Name != want.name || h.Batch != want.batch || !h.ReceivedAt.Equal(now) {
			t.Errorf("id %s: %+v, want name %q batch %q", id, h, want.name, want.batch)
		}
	}
	if len(held) != 4 {
		t.Errorf("lookup found %d records, want 4 (zz was never stored)", len(held))
	}
}
