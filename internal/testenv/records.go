package testenv

import (
	"context"

	"github.com/vacunometro/vacunometro/internal/store"
)

// CountRecords counts what st holds by reading every record: for tests on
// small data only (the product never counts the collection; FerretDB
// answers any count by reading every document).
func CountRecords(ctx context.Context, st *store.Store) (int64, error) {
	var n int64
	err := st.ScanStored(ctx, 1000, func(recs []store.Stored) error {
		n += int64(len(recs))
		return nil
	})
	return n, err
}
