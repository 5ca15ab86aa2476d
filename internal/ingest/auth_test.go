package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/producer"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/split"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// authServer is an ingest with the real key table and quota in rdb.
func authServer(t testing.TB, rdb redis.UniversalClient, rt *memRoute, table []producer.Producer) (http.Handler, *producer.Keys) {
	t.Helper()
	if err := producer.PublishTable(context.Background(), rdb, table); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys := producer.NewKeys(rdb, log)
	if err := keys.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := New(Config{
		Auth: keys, Quota: producer.NewQuota(rdb, producer.DefaultRate, producer.DefaultBurst),
		Decoder: &record.Decoder{Catalog: catalog.Default(), IDs: &record.IDGenerator{}},
		Routes:  map[string]route.Route{"grpc": rt}, Splitter: split.New(split.Weights{"grpc": 1}),
		Metrics: metrics.New(), Log: log,
	})
	mux := http.NewServeMux()
	s.Register(mux)
	return mux, keys
}

func postAs(h http.Handler, path, authz, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// No key, a wrong key, a revoked key and guesses shaped like a timing
// attack (the real key with one character changed, cut short, or longer)
// are refused and store nothing; the right key is accepted and its
// producer travels with each record.
func TestProducerKeyIsRequired(t *testing.T) {
	rdb := testenv.StartRedis(t, false).Client(t)
	key, _ := producer.NewKey()
	revokedKey, _ := producer.NewKey()
	rev := producer.New("site-r", revokedKey)
	rev.Revoked = time.Now()
	rt := &memRoute{name: "grpc"}
	h, _ := authServer(t, rdb, rt, []producer.Producer{producer.New("site-a", key), rev})

	flip := []byte(key)
	flip[len(flip)-1] ^= 1
	for _, tt := range []struct {
		name, authz string
		want        int
	}{
		{"no header", "", 401},
		{"empty bearer", "Bearer ", 401},
		{"basic", "Basic " + key, 401},
		{"wrong key", "Bearer vacp_" + strings.Repeat("A", 43), 401},
		{"last character changed", "Bearer " + string(flip), 401},
		{"cut short", "Bearer " + key[:len(key)-1], 401},
		{"one longer", "Bearer " + key + "A", 401},
		{"the hash as key", "Bearer " + rev.KeyHash, 401},
		{"revoked", "Bearer " + revokedKey, 403},
	} {
		for _, path := range []string{"/", "/api/records"} {
			w := postAs(h, path, tt.authz, rec)
			if w.Code != tt.want {
				t.Errorf("%s, POST %s: %d %s, want %d", tt.name, path, w.Code, w.Body, tt.want)
			}
			var e struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Errorf("%s: answer is not a JSON error: %s", tt.name, w.Body)
			}
			if tt.want == 401 && w.Header().Get("WWW-Authenticate") != `Bearer realm="vacunometro"` {
				t.Errorf("%s: WWW-Authenticate %q", tt.name, w.Header().Get("WWW-Authenticate"))
			}
		}
	}
	if len(rt.got) != 0 {
		t.Fatalf("refused requests delivered %d records", len(rt.got))
	}
	if w := postAs(h, "/api/records", "bearer "+key, "["+rec+","+rec+"]"); w.Code != 202 {
		t.Fatalf("the right key: %d %s", w.Code, w.Body)
	}
	if len(rt.got) != 2 || rt.got[0].Producer != "site-a" || rt.got[1].Producer != "site-a" {
		t.Fatalf("delivered %+v, want 2 records of producer site-a", rt.got)
	}
}

// A revoked key stops working at the next reload of the table.
func TestRevokedKeyStopsAtReload(t *testing.T) {
	rdb := testenv.StartRedis(t, false).Client(t)
	key, _ := producer.NewKey()
	rt := &memRoute{name: "grpc"}
	p := producer.New("site-a", key)
	h, keys := authServer(t, rdb, rt, []producer.Producer{p})
	if w := postAs(h, "/", "Bearer "+key, rec); w.Code != 202 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	p.Revoked = time.Now()
	if err := producer.PublishTable(context.Background(), rdb, []producer.Producer{p}); err != nil {
		t.Fatal(err)
	}
	if err := keys.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w := postAs(h, "/", "Bearer "+key, rec); w.Code != 403 {
		t.Fatalf("after revocation: %d %s, want 403", w.Code, w.Body)
	}
}

// Two producers, one over its quota: the other keeps its full rate; the
// limited one gets 429 with Retry-After, and every record it was told was
// accepted was delivered (and nothing else of it).
func TestQuotaIsPerProducer(t *testing.T) {
	rdb := testenv.StartRedis(t, false).Client(t)
	fastKey, _ := producer.NewKey()
	slowKey, _ := producer.NewKey()
	limited := producer.New("limited", fastKey)
	limited.Rate, limited.Burst = 100, 100
	other := producer.New("other", slowKey)
	other.Rate, other.Burst = 400, 400
	rt := &memRoute{name: "grpc"}
	h, _ := authServer(t, rdb, rt, []producer.Producer{limited, other})
	srv := httptest.NewServer(h)
	defer srv.Close()

	const dur = 2 * time.Second
	var (
		wg                         sync.WaitGroup
		limitedOK, limited429      atomic.Int64
		otherOK, otherSent, others atomic.Int64
		badRetry                   atomic.Int64
	)
	post := func(key string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(rec))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, ""
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	start := time.Now()
	for range 4 { // the limited producer floods
		wg.Go(func() {
			for time.Since(start) < dur {
				code, ra := post(fastKey)
				switch code {
				case 202:
					limitedOK.Add(1)
				case 429:
					limited429.Add(1)
					if ra == "" || ra == "0" {
						badRetry.Add(1)
					}
				}
			}
		})
	}
	wg.Go(func() { // the other sends 150 records a second, within its quota
		tick := time.NewTicker(time.Second / 150)
		defer tick.Stop()
		for time.Since(start) < dur {
			<-tick.C
			otherSent.Add(1)
			switch code, _ := post(slowKey); code {
			case 202:
				otherOK.Add(1)
			default:
				others.Add(1)
			}
		}
	})
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if otherOK.Load() != otherSent.Load() {
		t.Errorf("the producer within its quota: %d of %d accepted (%d refused)", otherOK.Load(), otherSent.Load(), others.Load())
	}
	if limited429.Load() == 0 || badRetry.Load() > 0 {
		t.Errorf("the flooding producer: %d answers 429, %d without Retry-After", limited429.Load(), badRetry.Load())
	}
	if max := int64(100 + 100*elapsed + 10); limitedOK.Load() > max {
		t.Errorf("the flooding producer got %d records accepted in %.1fs, over its quota (at most %d)", limitedOK.Load(), elapsed, max)
	}
	by := map[string]int64{}
	rt.mu.Lock()
	for _, r := range rt.got {
		by[r.Producer]++
	}
	rt.mu.Unlock()
	if by["limited"] != limitedOK.Load() || by["other"] != otherOK.Load() || len(by) != 2 {
		t.Errorf("delivered by producer %v; accepted limited %d, other %d", by, limitedOK.Load(), otherOK.Load())
	}
	t.Logf("in %.1fs: limited %d accepted, %d refused (429); other %d of %d accepted", elapsed, limitedOK.Load(), limited429.Load(), otherOK.Load(), otherSent.Load())
}

// A request over the burst is refused whole, with a reason.
func TestRequestOverBurstIsRefused(t *testing.T) {
	rdb := testenv.StartRedis(t, false).Client(t)
	key, _ := producer.NewKey()
	p := producer.New("small", key)
	p.Rate, p.Burst = 10, 2
	rt := &memRoute{name: "grpc"}
	h, _ := authServer(t, rdb, rt, []producer.Producer{p})
	w := postAs(h, "/api/records", "Bearer "+key, "["+rec+","+rec+","+rec+"]")
	if w.Code != 429 || !strings.Contains(w.Body.String(), "burst of 2") || w.Header().Get("Retry-After") == "" {
		t.Fatalf("3 records over a burst of 2: %d %s", w.Code, w.Body)
	}
	if len(rt.got) != 0 {
		t.Fatal("a refused request was delivered")
	}
}

// cpuPerOp reports the process's CPU time (user and system) per operation.
func cpuPerOp(b *testing.B, run func()) {
	var r0, r1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	run()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	ns := func(r syscall.Rusage) int64 { return r.Utime.Nano() + r.Stime.Nano() }
	b.ReportMetric(float64(ns(r1)-ns(r0))/float64(b.N), "cpu-ns/op")
}

// BenchmarkAuthAndQuota is what the producer key and the quota cost one
// request: the key's hash looked up in the table, one quota script in Redis.
// Compare with BenchmarkSingleRecordRequest (make bench's CPU table).
func BenchmarkAuthAndQuota(b *testing.B) {
	rdb := testenv.StartRedis(b, false).Client(b)
	key, _ := producer.NewKey()
	p := producer.New("bench", key)
	p.Rate, p.Burst = 5000, 10000 // leases of 250 records
	_, keys := authServer(b, rdb, &memRoute{name: "grpc"}, []producer.Producer{p})
	q := producer.NewQuota(rdb, producer.DefaultRate, producer.DefaultBurst)
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	ctx := context.Background()
	b.ResetTimer()
	cpuPerOp(b, func() {
		for b.Loop() {
			id, err := keys.Check(req)
			if err != nil {
				b.Fatal(err)
			}
			if d, err := q.Take(ctx, id, 1); err != nil || !d.OK {
				b.Fatal(d, err)
			}
		}
	})
}

// BenchmarkSingleRecordRequest is one single-record request through the
// ingest's handler, key and quota included, delivered to a Redis stream
// on the same redis-server (the redis route's producer stand-in: one XADD
// of the record's wire form).
func BenchmarkSingleRecordRequest(b *testing.B) {
	rdb := testenv.StartRedis(b, false).Client(b)
	key, _ := producer.NewKey()
	p := producer.New("bench", key)
	p.Rate, p.Burst = 5000, 10000 // leases of 250 records
	if err := producer.PublishTable(context.Background(), rdb, []producer.Producer{p}); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys := producer.NewKeys(rdb, log)
	if err := keys.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	s := New(Config{
		Auth: keys, Quota: producer.NewQuota(rdb, producer.DefaultRate, producer.DefaultBurst),
		Decoder: &record.Decoder{Catalog: catalog.Default(), IDs: &record.IDGenerator{}},
		Routes:  map[string]route.Route{"redis": &xaddRoute{rdb: rdb}}, Splitter: split.New(split.Weights{"redis": 1}),
		Metrics: metrics.New(), Log: log,
	})
	mux := http.NewServeMux()
	s.Register(mux)
	body := []byte(rec)
	b.ResetTimer()
	cpuPerOp(b, func() {
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+key)
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			if w.Code != 202 {
				b.Fatal(w.Code, w.Body)
			}
		}
	})
}

// xaddRoute appends each batch to a capped stream.
type xaddRoute struct{ rdb redis.UniversalClient }

func (x *xaddRoute) Name() string { return "redis" }
func (x *xaddRoute) Close() error { return nil }
func (x *xaddRoute) Deliver(ctx context.Context, recs []record.Record) error {
	b, _ := json.Marshal(recs)
	return x.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "bench", MaxLen: 1000, Approx: true, Values: []any{"b", b}}).Err()
}
