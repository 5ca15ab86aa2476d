package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// mongoState is what MongoDB holds, read directly (not through vacunometro).
type mongoState struct {
	ids   map[string]int // id -> documents with it
	docs  int
	tally stats.Count // an aggregation computed independently of the Redis view
}

func (c *cluster) readMongo(ctx context.Context) (*mongoState, error) {
	m := &mongoState{ids: map[string]int{}, tally: stats.Tally(nil)}
	err := c.Store.Scan(ctx, 1000, func(recs []record.Record) error {
		for _, r := range recs {
			m.ids[r.ID]++
		}
		m.docs += len(recs)
		m.tally.Add(recs)
		return nil
	})
	return m, err
}

// result is a scenario's account.
type result struct {
	Accepted, Stored, Lost, Duplicated, Extra int
	ViewTotal                                 int64
	Diff                                      []string
	Missing                                   []string // a few lost ids
}

func (r result) ok() bool { return r.Lost == 0 && r.Duplicated == 0 && len(r.Diff) == 0 }

// account compares the accepted ids with MongoDB and the snapshot.
func account(accepted map[string]string, m *mongoState, snap *stats.Snapshot) result {
	r := result{Accepted: len(accepted), ViewTotal: snap.Total}
	for id := range accepted {
		switch n := m.ids[id]; {
		case n == 0:
			r.Lost++
			if len(r.Missing) < 10 {
				r.Missing = append(r.Missing, id)
			}
		default:
			r.Stored++
		}
	}
	for id, n := range m.ids {
		r.Duplicated += n - 1
		if _, ok := accepted[id]; !ok {
			r.Extra++
		}
	}
	if extra := snap.Total - int64(len(m.ids)); extra > 0 {
		r.Duplicated += int(extra) // the view counted more records than MongoDB holds
	}
	r.Diff = m.tally.Diff(snap, true)
	sort.Strings(r.Missing)
	return r
}

// verify ends a scenario: it retries every refused request with the same ids
// (what the 503 asks a client to do), waits until MongoDB holds every
// accepted record and the view has counted them, then prints the RESULT line
// and fails the test on any loss, double count, difference between
// /api/stats and MongoDB, or answer that broke the contract.
func (c *cluster) verify(t *testing.T, scenario string, l *loadGen, timeout time.Duration, notes ...string) result {
	t.Helper()
	refusedBefore := 0
	l.mu.Lock()
	refusedBefore = len(l.refused)
	l.mu.Unlock()
	retried, err := l.RetryRefused(5)
	if err != nil {
		t.Errorf("%s: after the fault was healed: %v", scenario, err)
	}
	accepted := l.Accepted()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	var r result
	start := time.Now()
	for {
		n, err := testenv.CountRecords(ctx, c.Store)
		snap, serr := c.Snapshot()
		if err == nil && serr == nil && n >= int64(len(accepted)) && snap.Total == n {
			m, err := c.readMongo(ctx)
			if err != nil {
				t.Fatalf("read MongoDB: %v", err)
			}
			if snap, serr = c.Snapshot(); serr == nil {
				r = account(accepted, m, snap)
				if r.ok() {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			m, err := c.readMongo(ctx)
			if err != nil {
				t.Fatalf("read MongoDB: %v", err)
			}
			snap, serr := c.Snapshot()
			if serr != nil {
				t.Fatalf("GET /api/stats: %v", serr)
			}
			r = account(accepted, m, snap)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	converged := time.Since(start).Round(100 * time.Millisecond)
	// Nothing more may be counted once everything is stored: a late
	// redelivery that counted again would show here.
	if r.ok() {
		time.Sleep(time.Second)
		if snap, err := c.Snapshot(); err == nil && snap.Total != r.ViewTotal {
			r.Duplicated += int(snap.Total - r.ViewTotal)
			r.Diff = append(r.Diff, fmt.Sprintf("total moved from %d to %d after convergence", r.ViewTotal, snap.Total))
		}
	}
	viol := l.Violations()
	fmt.Printf("RESULT accepted=%d stored=%d lost=%d duplicated=%d scenario=%s refused=%d retried=%d extra_stored=%d view_total=%d converged_in=%v %s%s\n",
		r.Accepted, r.Stored, r.Lost, r.Duplicated, scenario, refusedBefore, retried, r.Extra, r.ViewTotal, converged, l.Summary(),
		prefixJoin(" ", notes))
	if r.Lost > 0 {
		t.Errorf("%s: %d records that got a 202 are not in MongoDB (e.g. %v)", scenario, r.Lost, r.Missing)
	}
	if r.Duplicated > 0 {
		t.Errorf("%s: %d records stored or counted twice", scenario, r.Duplicated)
	}
	if len(r.Diff) > 0 {
		t.Errorf("%s: /api/stats differs from the aggregation of MongoDB: %v", scenario, r.Diff)
	}
	if len(viol) > 0 {
		t.Errorf("%s: %d answers broke the contract, e.g. %v", scenario, len(viol), viol[:min(5, len(viol))])
	}
	if r.Accepted == 0 {
		t.Errorf("%s: no record was accepted: the load did not run", scenario)
	}
	return r
}

func prefixJoin(sep string, parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	return sep + strings.Join(parts, sep)
}
