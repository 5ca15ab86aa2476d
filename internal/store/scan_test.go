package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// ScanStored hands over every record once, in batches of batchSize and a
// last partial one, and stops at the first error fn returns, returning it.
func TestScanStoredReadsEveryRecordAndStopsOnError(t *testing.T) {
	ctx := context.Background()
	uri, db := testenv.Mongo(t)
	st := openStore(t, uri, db)
	defer st.Close(ctx)
	const n = 2500
	recs := make([]record.Record, n)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range recs {
		recs[i] = record.Record{ID: fmt.Sprintf("r%04d", i), Name: "Ana", DepartmentCode: "01", Department: "Guatemala",
			Age: 40, Vaccine: "Moderna", Dose: 1, ReceivedAt: now, Route: "redis", Producer: "local"}
	}
	if _, err := st.Insert(ctx, "b1", recs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		stopAt  int // the call that fails; 0: none
		sizes   []int
		wantErr bool
	}{
		{"whole scan", 0, []int{1000, 1000, 500}, false},
		{"fn fails on the second batch", 2, []int{1000, 1000}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			boom := errors.New("boom")
			seen := map[string]bool{}
			var sizes []int
			err := st.ScanStored(ctx, 1000, func(b []store.Stored) error {
				sizes = append(sizes, len(b))
				for _, d := range b {
					if seen[d.ID] {
						t.Errorf("%s handed over twice", d.ID)
					}
					seen[d.ID] = true
					if d.Batch != "b1" || d.Department != "Guatemala" || !d.ReceivedAt.Equal(now) {
						t.Errorf("%s came back as %+v", d.ID, d)
					}
				}
				if len(sizes) == tc.stopAt {
					return boom
				}
				return nil
			})
			if tc.wantErr != errors.Is(err, boom) || (!tc.wantErr && err != nil) {
				t.Fatalf("ScanStored: %v", err)
			}
			if fmt.Sprint(sizes) != fmt.Sprint(tc.sizes) {
				t.Fatalf("batches %v, want %v", sizes, tc.sizes)
			}
			if !tc.wantErr && len(seen) != n {
				t.Fatalf("%d records seen, want %d", len(seen), n)
			}
		})
	}
}
