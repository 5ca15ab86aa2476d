package split

import (
	"context"
	"testing"

	"github.com/vacunometro/vacunometro/internal/schema"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// An instance that starts (autoscaling) joins the split changed at run time
// instead of undoing it; the first instance publishes its own.
func TestAdoptTheSharedSplit(t *testing.T) {
	rdb := testenv.StartRedis(t, false).Client(t)
	ctx := context.Background()
	known := []string{"grpc", "redis"}
	sh := NewShared(rdb, "test.changed", "split", "g1")
	first := New(Weights{"grpc": 50, "redis": 50})
	if ok, err := sh.Adopt(ctx, first, known); ok || err != nil {
		t.Fatalf("nothing shared yet: adopted %v, %v", ok, err)
	}
	v, err := sh.Publish(ctx, Weights{"grpc": 10, "redis": 90}, known)
	if err != nil || v != 1 {
		t.Fatalf("publish: version %d, %v", v, err)
	}
	next := New(Weights{"grpc": 50, "redis": 50})
	if ok, err := sh.Adopt(ctx, next, known); !ok || err != nil {
		t.Fatalf("adopt: %v, %v", ok, err)
	}
	if w, got := next.Current(); w["grpc"] != 10 || w["redis"] != 90 || got != 1 {
		t.Fatalf("adopted %v version %d, want grpc=10 redis=90 version 1", w, got)
	}
	// A later change reaches it through Sync.
	if _, err := sh.Publish(ctx, Weights{"grpc": 70, "redis": 30}, known); err != nil {
		t.Fatal(err)
	}
	if changed, err := sh.Sync(ctx, next, known); !changed || err != nil {
		t.Fatalf("sync: %v, %v", changed, err)
	}
	if w, _ := next.Current(); w["grpc"] != 70 {
		t.Fatalf("after sync %v", w)
	}
}

// Instances configured otherwise (a revision serving one route) keep their
// split; the dashboard's hash shows the last change made anywhere.
func TestGroupsKeepTheirOwnSplit(t *testing.T) {
	rdb := testenv.StartRedis(t, false).Client(t)
	ctx := context.Background()
	known := []string{"grpc", "redis"}
	a, b := NewShared(rdb, "c", "split", "grpc=50,redis=50"), NewShared(rdb, "c", "split", "redis=100")
	if _, err := a.Publish(ctx, Weights{"grpc": 10, "redis": 90}, known); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(ctx, Weights{"grpc": 0, "redis": 100}, known); err != nil {
		t.Fatal(err)
	}
	sp := New(Weights{"grpc": 50, "redis": 50})
	if ok, err := a.Adopt(ctx, sp, known); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if w, _ := sp.Current(); w["grpc"] != 10 {
		t.Fatalf("group a holds %v, want grpc=10 (group b's change leaked in)", w)
	}
	if h := rdb.HGetAll(ctx, schema.SplitKey).Val(); h["redis"] != "100" || h["group"] != "redis=100" {
		t.Fatalf("dashboard hash %v, want the last change (redis=100)", h)
	}
}
