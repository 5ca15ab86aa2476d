package store

import (
	"context"
	"encoding/json"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ScanCostWarning is the planned cost above which a sequential scan of the
// records, for one exact-_id find, is worth an operator's attention: about
// a thousand table pages (some tens of thousands of records). Below it,
// PostgreSQL rightly scans a small table even with the index.
const ScanCostWarning = 1000

// IDFindPlan is what the backend plans for the repair's read (one
// exact-_id find; Lookup). Scan is true when it would read the whole
// table: FerretDB on PostgreSQL without postgres_index.sql plans a
// "Seq Scan", whose cost grows with the collection. Cost is PostgreSQL's
// estimate of that scan (0 where the backend gives none).
type IDFindPlan struct {
	Scan bool
	Cost float64
	Raw  string // the explain's queryPlanner, as JSON
}

// ExplainIDFind asks the backend (explain, which plans and reads nothing)
// how it would answer Lookup's find. The answer's shape is the backend's
// own; only PostgreSQL's plan nodes (FerretDB passes them on) are read.
func (s *Store) ExplainIDFind(ctx context.Context) (IDFindPlan, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var res bson.M
	err := s.coll.Database().RunCommand(ctx, bson.D{{Key: "explain", Value: bson.D{
		{Key: "find", Value: Collection}, {Key: "filter", Value: bson.D{{Key: "_id", Value: "explain-probe"}}}, {Key: "limit", Value: 1},
	}}}).Decode(&res)
	if err != nil {
		return IDFindPlan{}, fmt.Errorf("store: explain a find by _id: %w", err)
	}
	raw, err := bson.MarshalExtJSON(bson.M{"queryPlanner": res["queryPlanner"]}, false, false)
	if err != nil {
		return IDFindPlan{}, fmt.Errorf("store: explain: %w", err)
	}
	p := IDFindPlan{Raw: string(raw)}
	var doc any
	if json.Unmarshal(raw, &doc) == nil {
		walkPlan(doc, &p)
	}
	return p, nil
}

// walkPlan finds PostgreSQL plan nodes ({"Node Type": "Seq Scan", "Total
// Cost": ...}) anywhere in the explain.
func walkPlan(v any, p *IDFindPlan) {
	switch x := v.(type) {
	case map[string]any:
		if x["Node Type"] == "Seq Scan" {
			p.Scan = true
			if c, ok := x["Total Cost"].(float64); ok && c > p.Cost {
				p.Cost = c
			}
		}
		for _, e := range x {
			walkPlan(e, p)
		}
	case []any:
		for _, e := range x {
			walkPlan(e, p)
		}
	}
}
