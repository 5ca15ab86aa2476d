package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/schema"
	"github.com/vacunometro/vacunometro/internal/split"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// Issue 16, defect 3: 40 parallel PUT /api/split over two instances left the
// splitter and the published split disagreeing. With the shared, versioned
// split every instance and the published hash end on the same weights.
func TestParallelSplitChangesConverge(t *testing.T) {
	rs := testenv.StartRedis(t, false)
	rdb := rs.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	names := []string{route.GRPC, route.Redis}
	type instance struct {
		url string
		sp  *split.Splitter
	}
	var insts []instance
	for range 2 {
		sp := split.New(split.Weights{route.GRPC: 50, route.Redis: 50})
		shared := split.NewShared(rdb, "test.changed", "split", "g1")
		go shared.Follow(ctx, sp, names, 200*time.Millisecond, log)
		s := New(Config{
			Auth:     anyProducer{},
			Decoder:  &record.Decoder{Catalog: catalog.Default(), IDs: &record.IDGenerator{}},
			Routes:   map[string]route.Route{route.GRPC: &memRoute{name: route.GRPC}, route.Redis: &memRoute{name: route.Redis}},
			Splitter: sp, Metrics: metrics.New(), Log: log,
		})
		mux := http.NewServeMux()
		s.Register(mux)
		withSplit(mux, s, sp, shared, log)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		insts = append(insts, instance{url: srv.URL, sp: sp})
	}
	for round := range 5 {
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"weights":{"grpc":%d,"redis":%d}}`, i+1, 100-i)
				req, _ := http.NewRequest(http.MethodPut, insts[i%2].url+"/api/split", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer tok")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("PUT: %d", resp.StatusCode)
				}
			}()
		}
		wg.Wait()
		h, err := rdb.HGetAll(ctx, schema.SplitKey).Result()
		if err != nil {
			t.Fatal(err)
		}
		g, _ := strconv.Atoi(h["grpc"])
		r, _ := strconv.Atoi(h["redis"])
		v, _ := strconv.ParseInt(h["version"], 10, 64)
		deadline := time.Now().Add(3 * time.Second)
		for _, in := range insts {
			for {
				w, iv := in.sp.Current()
				if w[route.GRPC] == g && w[route.Redis] == r && iv == v {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("round %d: instance %s holds %v (version %d); published grpc=%d redis=%d version %d", round, in.url, w, iv, g, r, v)
				}
				time.Sleep(20 * time.Millisecond)
			}
			resp, err := http.Get(in.url + "/api/split")
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Weights map[string]int
				Version int64
			}
			_ = json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if got.Weights["grpc"] != g || got.Weights["redis"] != r || got.Version != v {
				t.Fatalf("round %d: GET /api/split = %+v, published grpc=%d redis=%d version %d", round, got, g, r, v)
			}
		}
	}
}

// A change that cannot be published is not applied either.
func TestSplitChangeRefusedWhenItCannotBeShared(t *testing.T) {
	rs := testenv.StartRedis(t, false)
	rdb := rs.Client(t)
	sp := split.New(split.Weights{route.GRPC: 1, route.Redis: 0})
	s := New(Config{
		Auth:     anyProducer{},
		Decoder:  &record.Decoder{Catalog: catalog.Default(), IDs: &record.IDGenerator{}},
		Routes:   map[string]route.Route{route.GRPC: &memRoute{name: route.GRPC}, route.Redis: &memRoute{name: route.Redis}},
		Splitter: sp, Metrics: metrics.New(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	mux := http.NewServeMux()
	s.Register(mux)
	withSplit(mux, s, sp, split.NewShared(rdb, "test.changed", "split", "g1"), s.cfg.Log)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	rs.Kill()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/api/split", strings.NewReader(`{"weights":{"redis":1}}`))
	req.Header.Set("Authorization", "Bearer tok")
	code, h, body := do(t, req)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("PUT with Redis down: %d %s", code, body)
	}
	if w := sp.Weights(); w[route.Redis] != 0 {
		t.Fatalf("the unpublished change was applied: %v", w)
	}
}
