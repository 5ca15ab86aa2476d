package route_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/route/routetest"
)

type sinkFunc func(context.Context, []record.Record) error

func (f sinkFunc) Store(ctx context.Context, recs []record.Record) error { return f(ctx, recs) }

// The one consume step: what is stored is acknowledged with what was
// dead-lettered; on a store failure nothing is; a poison message is
// refused when the route has no dead letters.
func TestConsumerHandle(t *testing.T) {
	cat := catalog.Default()
	d := cat.Departments()[0]
	good := record.Record{ID: "a-1", Name: "Ana Perez", DepartmentCode: d.Code, Department: d.Name, Age: 30,
		Vaccine: cat.Vaccines()[0].Name, Dose: 1, Route: route.Redis}
	okMsg, err := proto.Marshal(record.BatchToProto([]record.Record{good}))
	if err != nil {
		t.Fatal(err)
	}
	msgs := map[string][]byte{"ok": okMsg, "bad": []byte("not a batch")}
	cases := []struct {
		name       string
		in         []string
		storeErr   error
		deadLetter bool
		dlErr      error
		wantAck    []string
		wantRetry  []string
		wantDL     []string
		wantErr    string // "poison", "store" or ""
		wantStored int
	}{
		{name: "stored then acked", in: []string{"ok"}, deadLetter: true, wantAck: []string{"ok"}, wantStored: 1},
		{name: "poison dead-lettered and acked with the rest", in: []string{"ok", "bad"}, deadLetter: true,
			wantAck: []string{"ok", "bad"}, wantDL: []string{"bad"}, wantStored: 1},
		{name: "store fails: nothing acked, all retried", in: []string{"ok", "bad"}, deadLetter: true, storeErr: errors.New("down"),
			wantRetry: []string{"ok", "bad"}, wantErr: "store"},
		{name: "dead letter fails: retried", in: []string{"bad"}, deadLetter: true, dlErr: errors.New("no topic"),
			wantDL: []string{"bad"}, wantRetry: []string{"bad"}},
		{name: "no dead letters: poison refused", in: []string{"bad"}, wantErr: "poison"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var acked, retried, dead []string
			stored := 0
			c := route.Consumer[string]{
				Deps: route.ConsumerDeps{Catalog: cat, Log: slog.New(slog.DiscardHandler),
					Sink: sinkFunc(func(_ context.Context, recs []record.Record) error {
						if tc.storeErr != nil {
							return tc.storeErr
						}
						stored += len(recs)
						return nil
					})},
				Span:   "test.consume",
				Decode: func(m string) ([]record.Record, error) { return route.DecodeBatch(msgs[m], cat) },
				Ack:    func(_ context.Context, ms []string) { acked = append(acked, ms...) },
				Retry:  func(_ context.Context, ms []string, _ error) { retried = append(retried, ms...) },
			}
			if tc.deadLetter {
				c.DeadLetter = func(_ context.Context, m string, cause *route.PoisonError) error {
					if cause.Reason != "undecodable" {
						return fmt.Errorf("reason %q", cause.Reason)
					}
					dead = append(dead, m)
					return tc.dlErr
				}
			}
			n, err := c.Handle(context.Background(), tc.in)
			var pe *route.PoisonError
			switch tc.wantErr {
			case "poison":
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want a PoisonError", err)
				}
			case "store":
				if !errors.Is(err, tc.storeErr) {
					t.Fatalf("err = %v, want the store's", err)
				}
			default:
				if err != nil {
					t.Fatalf("err = %v", err)
				}
			}
			if n != tc.wantStored || stored != tc.wantStored {
				t.Errorf("stored %d (Handle says %d), want %d", stored, n, tc.wantStored)
			}
			for what, pair := range map[string][2][]string{"acked": {acked, tc.wantAck}, "retried": {retried, tc.wantRetry}, "dead-lettered": {dead, tc.wantDL}} {
				if !slices.Equal(pair[0], pair[1]) {
					t.Errorf("%s %v, want %v", what, pair[0], pair[1])
				}
			}
		})
	}
}

// A consumer whose sender waits (the gRPC route: Urgent) stores without
// waiting for company where the sink can; the queue workers wait for it.
func TestConsumerUrgentUsesStoreNow(t *testing.T) {
	cases := []struct {
		name   string
		urgent bool
		sink   func(*routetest.CallSink) route.Sink
		want   []string
	}{
		{"urgent", true, func(u *routetest.CallSink) route.Sink { return u }, []string{"StoreNow"}},
		{"not urgent", false, func(u *routetest.CallSink) route.Sink { return u }, []string{"Store"}},
		{"urgent, a sink without StoreNow", true, func(u *routetest.CallSink) route.Sink { return sinkFunc(u.Store) }, []string{"Store"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := &routetest.CallSink{}
			c := route.Consumer[string]{Deps: route.ConsumerDeps{Sink: tc.sink(u), Log: slog.New(slog.DiscardHandler)}, Span: "test", Urgent: tc.urgent,
				Decode: func(string) ([]record.Record, error) { return []record.Record{{ID: "a-1"}}, nil }}
			if _, err := c.Handle(context.Background(), []string{"m"}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(u.Calls, tc.want) {
				t.Fatalf("stored with %v, want %v", u.Calls, tc.want)
			}
		})
	}
}
