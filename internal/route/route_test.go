package route_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/batch"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
)

// LastWrite moves only when a write to the transport succeeds: it is what
// the ingest's failover reads to tell a slow route from a hung one.
func TestBatchedLastWriteMovesOnlyOnSuccess(t *testing.T) {
	fail := errors.New("transport down")
	var err error
	r := route.NewBatched("redis", func(context.Context, []record.Record) error { return err }, batch.Options{}, nil)
	defer r.Close()
	if !r.LastWrite().IsZero() {
		t.Fatalf("LastWrite %v before any write", r.LastWrite())
	}
	before := time.Now()
	if e := r.Deliver(context.Background(), []record.Record{{ID: "a"}}); e != nil {
		t.Fatal(e)
	}
	ok := r.LastWrite()
	if ok.Before(before) {
		t.Fatalf("LastWrite %v after a write that ended after %v", ok, before)
	}
	err = fail
	if e := r.Deliver(context.Background(), []record.Record{{ID: "b"}}); !errors.Is(e, fail) {
		t.Fatalf("Deliver: %v, want %v", e, fail)
	}
	if got := r.LastWrite(); !got.Equal(ok) {
		t.Fatalf("LastWrite moved to %v on a failed write", got)
	}
}
