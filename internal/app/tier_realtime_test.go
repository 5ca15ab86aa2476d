package app

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/stats"
)

// The hub pushes a snapshot only when its key changed: a new generation
// time alone is not a change, a new count is; the dashboard still gets the
// generation time.
func TestSnapshotKeyLeavesOutTheGenerationTime(t *testing.T) {
	read := func(total int64, at time.Time) func(context.Context) (*stats.Snapshot, error) {
		return func(context.Context) (*stats.Snapshot, error) {
			return &stats.Snapshot{Total: total, GeneratedAt: at}, nil
		}
	}
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	get := func(total int64, at time.Time) (data, key []byte) {
		s, err := snapshotSource(read(total, at))(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s.Data, s.Key
	}
	data1, key1 := get(7, t0)
	_, key2 := get(7, t0.Add(time.Second))
	_, key3 := get(8, t0)
	if !bytes.Equal(key1, key2) {
		t.Errorf("same data read a second later has another key: %s vs %s", key1, key2)
	}
	if bytes.Equal(key1, key3) {
		t.Errorf("another total has the same key %s", key1)
	}
	var shown map[string]any
	if err := json.Unmarshal(data1, &shown); err != nil || shown["generated_at"] != "2026-12-01T08:00:00Z" {
		t.Errorf("the frame lacks its generation time: %s (%v)", data1, err)
	}
}
