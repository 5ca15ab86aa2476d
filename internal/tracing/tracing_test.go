package tracing_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/ingest"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/route/grpcroute"
	"github.com/vacunometro/vacunometro/internal/route/redisroute"
	"github.com/vacunometro/vacunometro/internal/sink"
	"github.com/vacunometro/vacunometro/internal/split"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/testenv"
	"github.com/vacunometro/vacunometro/internal/tracing"
)

func TestOffByDefault(t *testing.T) {
	tr, shutdown, err := tracing.Setup(context.Background(), "x", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	ctx, span := tr.Start(context.Background(), "s")
	defer span.End()
	if span.SpanContext().IsValid() || tracing.Traceparent(ctx) != "" {
		t.Fatal("tracing is on without an OTLP endpoint")
	}
}

// One request through the ingest, the gRPC route and the Redis route to the
// sink: one trace per request with a span per stage.
func TestOneTracePerRequestThroughEveryStage(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tr := tp.Tracer(tracing.Name)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()

	uri, db := testenv.Mongo(t)
	st, err := store.Open(ctx, uri, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	rs := testenv.StartRedis(t, false)
	rdb := rs.Client(t)
	cat := catalog.Default()
	sk := sink.New(st, stats.NewView(rdb, cat, route.All), metrics.New(), log, sink.Options{Tracer: tr})
	defer sk.Close()

	// gRPC server and client.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deps := route.ConsumerDeps{Sink: sk, Catalog: cat, Metrics: metrics.New(), Log: log, Tracer: tr}
	gs := grpcroute.NewGRPCServer(grpcroute.NewServer(deps))
	go gs.Serve(lis)
	defer gs.Stop()
	gc, err := grpcroute.Dial(lis.Addr().String(), grpcroute.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	// Redis producer and worker.
	rp := redisroute.NewProducer(rdb, redisroute.ProducerOptions{})
	defer rp.Close()
	w := redisroute.NewWorker(rdb, deps, redisroute.WorkerOptions{Block: 100 * time.Millisecond})
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = w.Run(wctx) }()
	defer func() { stop(); wg.Wait() }()

	srvIngest := ingest.New(ingest.Config{
		Decoder: &record.Decoder{Catalog: cat, IDs: &record.IDGenerator{}},
		Routes:  map[string]route.Route{"grpc": gc, "redis": rp}, Splitter: split.New(split.Weights{"grpc": 1, "redis": 1}),
		Metrics: metrics.New(), Log: log, Tracer: tr, Auth: testenv.Keys(),
	})
	mux := http.NewServeMux()
	srvIngest.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()

	for i := 0; i < 2; i++ { // one request by each route
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/", strings.NewReader(
			`{"name":"Ana Lopez","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":2}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(testenv.Authorize(req))
		if err != nil || resp.StatusCode != 202 {
			t.Fatalf("POST: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := testenv.CountRecords(ctx, st)
		if n == 2 && len(exp.GetSpans()) >= 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored %d, %d spans", n, len(exp.GetSpans()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	byTrace := map[string][]string{}
	for _, s := range exp.GetSpans() {
		id := s.SpanContext.TraceID().String()
		byTrace[id] = append(byTrace[id], s.Name)
	}
	if len(byTrace) != 2 {
		t.Fatalf("want 2 traces (one per request), got %d: %v", len(byTrace), byTrace)
	}
	for id, names := range byTrace {
		joined := strings.Join(names, ",")
		for _, want := range []string{"ingest.records", "route.deliver", "sink.store"} {
			if !strings.Contains(joined, want) {
				t.Errorf("trace %s lacks %s: %v", id, want, names)
			}
		}
		if !strings.Contains(joined, "grpc.Deliver") && !strings.Contains(joined, "redis.consume") {
			t.Errorf("trace %s has no consumer span: %v", id, names)
		}
	}
}
