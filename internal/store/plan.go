package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

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

	nodes int // PostgreSQL plan nodes in Raw
}

// ExplainIDFind asks the backend (explain, which plans and reads nothing)
// how it would answer Lookup's find. The answer's shape is the backend's
// own; only PostgreSQL's plan nodes (FerretDB passes them on) are read.
func (s *Store) ExplainIDFind(ctx context.Context) (IDFindPlan, error) {
	p, _, err := s.explainFind(ctx, bson.D{{Key: "_id", Value: "explain-probe"}})
	if err != nil {
		return IDFindPlan{}, fmt.Errorf("store: explain a find by _id: %w", err)
	}
	return p, nil
}

// explainFind plans a find of filter. pushdown is FerretDB's own report
// that the backend filters (false on MongoDB, which reports no such thing,
// and on FerretDB/SQLite for any filter but an exact _id); nodes is the
// number of PostgreSQL plan nodes seen.
func (s *Store) explainFind(ctx context.Context, filter bson.D) (p IDFindPlan, pushdown bool, err error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var res bson.M
	err = s.coll.Database().RunCommand(ctx, bson.D{{Key: "explain", Value: bson.D{
		{Key: "find", Value: Collection}, {Key: "filter", Value: filter}, {Key: "limit", Value: 1},
	}}}).Decode(&res)
	if err != nil {
		return IDFindPlan{}, false, err
	}
	raw, err := bson.MarshalExtJSON(bson.M{"queryPlanner": res["queryPlanner"]}, false, false)
	if err != nil {
		return IDFindPlan{}, false, fmt.Errorf("explain: %w", err)
	}
	p = IDFindPlan{Raw: string(raw)}
	var doc any
	if json.Unmarshal(raw, &doc) == nil {
		walkPlan(doc, &p)
	}
	pushdown, _ = res["filterPushdown"].(bool)
	return p, pushdown, nil
}

// walkPlan finds PostgreSQL plan nodes ({"Node Type": "Seq Scan", "Total
// Cost": ...}) anywhere in the explain.
func walkPlan(v any, p *IDFindPlan) {
	switch x := v.(type) {
	case map[string]any:
		if t, ok := x["Node Type"].(string); ok {
			p.nodes++
			if t == "Seq Scan" {
				p.Scan = true
				if c, ok := x["Total Cost"].(float64); ok && c > p.Cost {
					p.Cost = c
				}
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

// batchPlanTTL is how long a Store trusts what it found about finds by
// batch: an operator may run postgres_index.sql while the product runs.
const batchPlanTTL = time.Minute

// batchPlan caches whether the backend answers a find by batch from an
// index (batchIndexed).
type batchPlan struct {
	mu      sync.Mutex
	indexed bool
	at      time.Time
}

// batchIndexed reports whether a find by batch ({b: id}) is answered from
// an index: FerretDB passes the filter to PostgreSQL (its "filterPushdown")
// and PostgreSQL plans no sequential scan for it, which takes the GIN index
// of postgres_index.sql. Not on FerretDB/SQLite (it passes down only an
// exact _id) nor on MongoDB (no index on b). Asked at most once per
// batchPlanTTL; a failed explain is "no" and is asked again next time.
func (s *Store) batchIndexed(ctx context.Context) bool {
	s.batchPlan.mu.Lock()
	defer s.batchPlan.mu.Unlock()
	if !s.batchPlan.at.IsZero() && time.Since(s.batchPlan.at) < batchPlanTTL {
		return s.batchPlan.indexed
	}
	p, pushdown, err := s.explainFind(ctx, bson.D{{Key: "b", Value: "explain-probe"}})
	if err != nil {
		return false
	}
	s.batchPlan.indexed = pushdown && p.nodes > 0 && !p.Scan
	s.batchPlan.at = time.Now()
	return s.batchPlan.indexed
}
