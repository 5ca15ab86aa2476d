package grpcroute_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/embedded"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/route/grpcroute"
	"github.com/vacunometro/vacunometro/internal/route/routetest"
	"github.com/vacunometro/vacunometro/internal/testenv"
	"github.com/vacunometro/vacunometro/internal/testenv/sinkenv"
	pb "github.com/vacunometro/vacunometro/proto/vacunometro/v1"
)

func newHarness(t *testing.T) *routetest.Harness {
	port, err := embedded.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	client, err := grpcroute.Dial(addr, grpcroute.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	var current *grpc.Server
	h := &routetest.Harness{Route: client}
	h.Start = func(t *testing.T, s route.Sink) func() {
		var lis net.Listener
		for i := 0; ; i++ {
			lis, err = net.Listen("tcp", addr)
			if err == nil {
				break
			}
			if i > 100 {
				t.Fatalf("listen %s: %v", addr, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		gs := grpcroute.NewGRPCServer(grpcroute.NewServer(route.ConsumerDeps{Sink: s, Catalog: catalog.Default(), Metrics: metrics.New(), Log: testenv.Logger(t)}))
		current = gs
		go func() { _ = gs.Serve(lis) }()
		return gs.GracefulStop
	}
	h.Crash = func() { current.Stop() }
	h.Duplicate = func(t *testing.T, recs []record.Record) {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := pb.NewRecordSinkClient(conn).Deliver(ctx, &pb.DeliverRequest{Batch: record.BatchToProto(recs)}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func TestConformance(t *testing.T) { routetest.Run(t, newHarness) }

func TestServerRefusesInvalidBatch(t *testing.T) {
	h := newHarness(t)
	e := sinkenv.New(t)
	stop := h.Start(t, e.Sink)
	defer stop()
	bad := routetest.Records(3, "bad", "grpc")
	bad[1].DepartmentCode = "GT-99"
	err := h.Route.Deliver(context.Background(), bad)
	if err == nil {
		t.Fatal("an invalid record was accepted")
	}
	if !strings.Contains(err.Error(), "server refused batch") || !strings.Contains(err.Error(), "department") {
		t.Fatalf("error %q does not say the server refused the batch for its department", err)
	}
	if n, _ := testenv.CountRecords(context.Background(), e.Store); n != 0 {
		t.Fatalf("a refused batch stored %d records", n)
	}
}

// The ingest's 202 waits on the server's answer: the server stores
// without waiting for the sink's interval.
func TestServerStoresWithoutWaitingForCompany(t *testing.T) {
	u := &routetest.CallSink{}
	srv := grpcroute.NewServer(route.ConsumerDeps{Sink: u, Catalog: catalog.Default(), Metrics: metrics.New(), Log: testenv.Logger(t)})
	res, err := srv.Deliver(context.Background(), &pb.DeliverRequest{Batch: record.BatchToProto(routetest.Records(2, "now", route.GRPC))})
	if err != nil || res.GetHeld() != 2 {
		t.Fatalf("Deliver = %v, %v", res, err)
	}
	if len(u.Calls) != 1 || u.Calls[0] != "StoreNow" {
		t.Fatalf("the server stored with %v, want StoreNow", u.Calls)
	}
}

// gateSink holds every store until open is closed, and counts the calls.
type gateSink struct {
	open  chan struct{}
	mu    sync.Mutex
	calls []int
}

func (g *gateSink) Store(ctx context.Context, recs []record.Record) error {
	g.mu.Lock()
	g.calls = append(g.calls, len(recs))
	g.mu.Unlock()
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gateSink) StoreNow(ctx context.Context, recs []record.Record) error {
	return g.Store(ctx, recs)
}

func (g *gateSink) seen() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.calls...)
}

// With the default options the client keeps one call out: what arrives
// while it is held goes in the next call, all of it (group commit).
func TestDeliveriesWhileACallIsOutShareTheNext(t *testing.T) {
	h := newHarness(t)
	g := &gateSink{open: make(chan struct{})}
	stop := h.Start(t, g)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errc := make(chan error, 21)
	go func() { errc <- h.Route.Deliver(ctx, routetest.Records(1, "first", route.GRPC)) }()
	for len(g.seen()) == 0 {
		if ctx.Err() != nil {
			t.Fatal("the first call never reached the server")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 20 {
		go func() { errc <- h.Route.Deliver(ctx, routetest.Records(1, fmt.Sprintf("next%02d", i), route.GRPC)) }()
	}
	time.Sleep(200 * time.Millisecond) // let all 20 reach the client's batcher
	if got := g.seen(); len(got) != 1 {
		t.Fatalf("calls while the first was held: %v, want only the first", got)
	}
	close(g.open)
	for range 21 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if got := g.seen(); len(got) != 2 || got[1] != 20 {
		t.Fatalf("calls %v, want [1 20]: the 20 deliveries that waited share one call", got)
	}
}
