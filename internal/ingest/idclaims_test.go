package ingest

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/split"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

func recWithID(id, name, location string) string {
	return `{"id":"` + id + `","name":"` + name + `","location":"` + location + `","age":30,"vaccine_type":"Moderna","n_dose":2}`
}

// Issue 16, defect 4: an id reused with different data was answered 202 and
// its data dropped by the sink.
func TestIDReusedWithOtherDataIsAConflict(t *testing.T) {
	rs := testenv.StartRedis(t, false)
	rdb := rs.Client(t)
	g := &memRoute{name: route.GRPC}
	s := New(Config{
		Auth:    anyProducer{},
		Decoder: &record.Decoder{Catalog: catalog.Default(), IDs: &record.IDGenerator{}},
		Routes:  map[string]route.Route{route.GRPC: g}, Splitter: split.New(split.Weights{route.GRPC: 1}),
		IDClaims: NewRedisIDClaims(rdb, time.Hour), Failover: true,
		Metrics: metrics.New(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(body string) (int, map[string]any) {
		resp, out := postRec(t, srv.URL+"/api/records", "application/json", body)
		return resp.StatusCode, out
	}
	delivered := func() int { g.mu.Lock(); defer g.mu.Unlock(); return len(g.got) }

	if code, out := post(recWithID("k1", "Ana Lopez", "Petén")); code != 202 {
		t.Fatalf("first: %d %v", code, out)
	}
	// An exact repeat (the same data, normalized) stays 202.
	if code, out := post(recWithID("k1", "Ana  Lopez", "peten")); code != 202 {
		t.Fatalf("exact repeat: %d %v", code, out)
	}
	before := delivered()
	code, out := post(recWithID("k1", "Berta Diaz", "Petén"))
	if code != http.StatusConflict {
		t.Fatalf("reuse with other data: %d %v, want 409", code, out)
	}
	if ids, _ := out["ids"].([]any); len(ids) != 1 || ids[0] != "k1" {
		t.Fatalf("409 names %v, want [k1]", out["ids"])
	}
	if delivered() != before {
		t.Fatal("the conflicting record was delivered")
	}
	// A batch with one conflict is refused whole, naming its index, and
	// claims nothing: its new id is free afterwards.
	code, out = post("[" + recWithID("k2", "Carla Ruiz", "Petén") + "," + recWithID("k1", "Berta Diaz", "Petén") + "]")
	if code != http.StatusConflict {
		t.Fatalf("batch with a conflict: %d %v", code, out)
	}
	errs, _ := out["errors"].([]any)
	if len(errs) != 1 || errs[0].(map[string]any)["index"] != float64(1) {
		t.Fatalf("409 errors %v, want index 1", out["errors"])
	}
	if code, out := post(recWithID("k2", "Dora Paz", "Petén")); code != 202 {
		t.Fatalf("k2 after the refused batch: %d %v (claim not released)", code, out)
	}
	// One id twice in one request: 422 naming both indexes.
	code, out = post("[" + recWithID("k3", "Eva Gil", "Petén") + "," + recWithID("k3", "Eva Gil", "Petén") + "]")
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("one id twice: %d %v", code, out)
	}
	b, _ := json.Marshal(out["errors"])
	if !strings.Contains(string(b), `"index":0`) || !strings.Contains(string(b), `"index":1`) {
		t.Fatalf("422 errors %s do not name both indexes", b)
	}
	// The horizon: the claim expires.
	if ttl := rdb.PTTL(t.Context(), idClaimPrefix+"k1").Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("claim TTL %v, want within (0, 1h]", ttl)
	}
	// No route took the records: the claim is given up, so the client may
	// correct the record and send it again.
	g.mu.Lock()
	g.fail = errors.New("down")
	g.mu.Unlock()
	if code, _ := post(recWithID("k4", "Flor Rios", "Petén")); code != 503 {
		t.Fatalf("failing route: %d", code)
	}
	g.mu.Lock()
	g.fail = nil
	g.mu.Unlock()
	if code, out := post(recWithID("k4", "Flor Rios Mena", "Petén")); code != 202 {
		t.Fatalf("after a 503, corrected: %d %v", code, out)
	}
	// Without Redis the records are delivered unchecked (the sink still
	// keeps the first): the ingest does not stop for the check.
	rs.Kill()
	if code, out := post(recWithID("k5", "Gil Paz", "Petén")); code != 202 {
		t.Fatalf("claims unavailable: %d %v", code, out)
	}
}

func TestFingerprintIgnoresDeliveryFields(t *testing.T) {
	a := record.Record{ID: "k", Name: "Ana", DepartmentCode: "GT-17", Age: 3, Dose: 1, Vaccine: "Moderna", Route: "grpc", ReceivedAt: time.Unix(1, 0)}
	b := a
	b.Route, b.ReceivedAt, b.Trace = "redis", time.Unix(2, 0), "00-x"
	if Fingerprint(a) != Fingerprint(b) {
		t.Fatal("route or receive time changed the fingerprint")
	}
	for _, change := range []func(*record.Record){
		func(r *record.Record) { r.Name = "Ana B" }, func(r *record.Record) { r.Age = 4 }, func(r *record.Record) { r.Dose = 2 },
		func(r *record.Record) { r.DepartmentCode = "GT-01" }, func(r *record.Record) { r.Vaccine = "Pfizer-BioNTech" },
		func(r *record.Record) { r.VaccinatedAt = time.Unix(1e9, 0) },
	} {
		c := a
		change(&c)
		if Fingerprint(c) == Fingerprint(a) {
			t.Fatalf("%+v and %+v share a fingerprint", a, c)
		}
	}
}
