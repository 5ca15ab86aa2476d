package store

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ExplainBatchFind is the explain LookupBatch asks of the backend.
func ExplainBatchFind(ctx context.Context, s *Store) (IDFindPlan, bool, error) {
	return s.explainFind(ctx, bson.D{{Key: "b", Value: "explain-probe"}})
}
