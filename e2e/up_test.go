package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// The one-command mode: embedded services, data kept across a restart.
func TestUpEmbeddedKeepsDataAcrossRestart(t *testing.T) {
	data := t.TempDir()
	addr := testenv.FreeAddr(t)
	up := start(t, testenv.CleanEnv(), addr, "up", "--addr", addr, "--data", data, "--web", t.TempDir())
	acc := sendAll(t, up.URL, inputs(150, ""), "single")
	acc = append(acc, sendAll(t, up.URL, inputs(200, "")[150:], "array")...)
	before := waitTotal(t, up.URL, int64(len(acc)), 30*time.Second)
	if diff := stats.Tally(acc).Diff(before, true); len(diff) > 0 {
		t.Fatalf("snapshot differs from what was sent: %v", diff)
	}
	stop(t, up)

	up2 := start(t, testenv.CleanEnv(), addr, "up", "--addr", addr, "--data", data, "--web", t.TempDir())
	after := snapshot(t, up2.URL)
	if diff := stats.Tally(acc).Diff(after, true); len(diff) > 0 {
		t.Fatalf("after a restart the snapshot differs: %v", diff)
	}
	// It keeps serving and counting.
	more := sendAll(t, up2.URL, inputs(20, "after-restart"), "single")
	waitTotal(t, up2.URL, int64(len(acc)+len(more)), 20*time.Second)
}

// realServices starts a redis-server of the test's own (AOF, fsync always), a
// FerretDB, and uses the Pub/Sub emulator: the environment for `up` and for
// the parts run alone.
type realServices struct {
	Redis    *testenv.RedisServer
	MongoURI string
	MongoDB  string
	Env      []string
}

func startServices(t *testing.T) *realServices {
	t.Helper()
	rs := testenv.StartRedis(t, true)
	uri, db := testenv.Mongo(t)
	host, project := testenv.PubSub(t)
	return &realServices{Redis: rs, MongoURI: uri, MongoDB: db, Env: testenv.CleanEnv(
		"REDIS_URL="+rs.URL, "MONGODB_URI="+uri, "MONGODB_DATABASE="+db,
		"PUBSUB_EMULATOR_HOST="+host, "PUBSUB_PROJECT="+project, "ADMIN_TOKEN=test-admin-token",
	)}
}

func (s *realServices) store(t *testing.T) *store.Store {
	st, err := store.Open(context.Background(), s.MongoURI, s.MongoDB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

// mongoTally counts what MongoDB holds, independently of the Redis view.
func mongoTally(t *testing.T, st *store.Store) stats.Count {
	t.Helper()
	c := stats.Tally(nil)
	if err := st.Scan(context.Background(), 1000, func(recs []record.Record) error { c.Add(recs); return nil }); err != nil {
		t.Fatal(err)
	}
	return c
}

func putSplit(t *testing.T, base, token, weights string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, base+"/api/split", strings.NewReader(weights))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Each route end to end, with the real services: what was sent is in MongoDB
// once and the snapshot equals an independent count.
func TestEachRouteEndToEnd(t *testing.T) {
	svc := startServices(t)
	addr := testenv.FreeAddr(t)
	up := start(t, svc.Env, addr, "up", "--addr", addr, "--data", t.TempDir(), "--web", t.TempDir())
	st := svc.store(t)
	var all []record.Record
	for i, r := range []string{"grpc", "redis", "pubsub"} {
		if code := putSplit(t, up.URL, "test-admin-token", `{"weights":{"`+r+`":100}}`); code != 200 {
			t.Fatalf("PUT /api/split: %d", code)
		}
		ins := inputs(300, "route-"+r)
		acc := sendAll(t, up.URL, ins[:100], "single")
		acc = append(acc, sendAll(t, up.URL, ins[100:200], "array")...)
		acc = append(acc, sendAll(t, up.URL, ins[200:], "ndjson")...)
		for _, a := range acc {
			if a.Route != r {
				t.Fatalf("record went by %q with the split at %s=100", a.Route, r)
			}
		}
		all = append(all, acc...)
		snap := waitTotal(t, up.URL, int64(len(all)), 30*time.Second)
		if diff := stats.Tally(all).Diff(snap, true); len(diff) > 0 {
			t.Fatalf("after route %s (%d): snapshot differs from what was sent: %v", r, i, diff)
		}
		n, _ := testenv.CountRecords(context.Background(), st)
		if n != int64(len(all)) {
			t.Fatalf("MongoDB holds %d records, want %d", n, len(all))
		}
		if diff := mongoTally(t, st).Diff(snap, true); len(diff) > 0 {
			t.Fatalf("snapshot differs from MongoDB: %v", diff)
		}
	}
}

// The split over 10,000 records: each route's share within one percentage
// point of its weight; a change at run time applies to the next records;
// weight 0 sends nothing; only the admin may change it.
func TestSplitSharesAndRuntimeChange(t *testing.T) {
	svc := startServices(t)
	addr := testenv.FreeAddr(t)
	up := start(t, svc.Env, addr, "up", "--addr", addr, "--data", t.TempDir(), "--web", t.TempDir(), "--split", "grpc=50,redis=30,pubsub=20")
	ins := inputs(10000, "")
	acc := sendAll(t, up.URL, ins[:4000], "single")
	acc = append(acc, sendAll(t, up.URL, ins[4000:], "array")...)
	shares := map[string]int{}
	for _, a := range acc {
		shares[a.Route]++
	}
	for r, w := range map[string]float64{"grpc": .5, "redis": .3, "pubsub": .2} {
		got := float64(shares[r]) / float64(len(acc))
		if got < w-0.01 || got > w+0.01 {
			t.Errorf("route %s carried %.4f of the records, want %.2f±0.01 (%v)", r, got, w, shares)
		}
	}
	snap := waitTotal(t, up.URL, int64(len(acc)), 60*time.Second)
	if diff := stats.Tally(acc).Diff(snap, true); len(diff) > 0 {
		t.Fatalf("snapshot differs: %v", diff)
	}
	for _, rs := range snap.Routes {
		want := map[string]int{"grpc": 50, "redis": 30, "pubsub": 20}[rs.Name]
		if rs.Weight != want {
			t.Errorf("snapshot shows weight %d for %s, want %d", rs.Weight, rs.Name, want)
		}
	}

	// Refused without the token or with a wrong one.
	if code := putSplit(t, up.URL, "", `{"weights":{"redis":100}}`); code != http.StatusUnauthorized {
		t.Fatalf("PUT /api/split without a token: %d, want 401", code)
	}
	if code := putSplit(t, up.URL, "wrong", `{"weights":{"redis":100}}`); code != http.StatusUnauthorized {
		t.Fatalf("PUT /api/split with a wrong token: %d, want 401", code)
	}
	if code := putSplit(t, up.URL, "test-admin-token", `{"weights":{"redis":-1}}`); code != http.StatusUnprocessableEntity {
		t.Fatalf("PUT /api/split with a negative weight: %d, want 422", code)
	}
	if code := putSplit(t, up.URL, "test-admin-token", `{"weights":{"grpc":0,"redis":1,"pubsub":1}}`); code != 200 {
		t.Fatalf("PUT /api/split: %d", code)
	}
	next := sendAll(t, up.URL, inputs(200, "after-change"), "single")
	for _, a := range next {
		if a.Route == "grpc" {
			t.Fatal("a record went by grpc after its weight was set to 0")
		}
	}
}

// The same id posted twice, and every route delivering twice, is stored and
// counted once.
func TestSameIDTwiceIsCountedOnce(t *testing.T) {
	svc := startServices(t)
	addr := testenv.FreeAddr(t)
	up := start(t, svc.Env, addr, "up", "--addr", addr, "--data", t.TempDir(), "--web", t.TempDir())
	ins := inputs(90, "idem")
	first := sendAll(t, up.URL, ins, "array")
	// Once stored (a queued route answers 202 before its worker stores: a
	// repeat by a faster route would win the race and own the record)...
	waitTotal(t, up.URL, int64(len(ins)), 20*time.Second)
	// ...again, by every route (round-robin spreads the repeats).
	for i := 0; i < 3; i++ {
		sendAll(t, up.URL, ins, "single")
	}
	time.Sleep(500 * time.Millisecond)
	snap := waitTotal(t, up.URL, int64(len(ins)), 20*time.Second)
	if diff := stats.Tally(first).Diff(snap, true); len(diff) > 0 {
		t.Fatalf("repeats changed the counts: %v", diff)
	}
	if n, _ := testenv.CountRecords(context.Background(), svc.store(t)); n != int64(len(ins)) {
		t.Fatalf("MongoDB holds %d, want %d", n, len(ins))
	}
}

// Rebuild: wipe Redis, run `vacunometro rebuild`: the snapshot equals the one
// before; wipe it again and restart `up`: the same.
func TestRebuildAfterRedisWipe(t *testing.T) {
	svc := startServices(t)
	addr := testenv.FreeAddr(t)
	data := t.TempDir()
	up := start(t, svc.Env, addr, "up", "--addr", addr, "--data", data, "--web", t.TempDir())
	acc := sendAll(t, up.URL, inputs(500, ""), "array")
	before := waitTotal(t, up.URL, int64(len(acc)), 30*time.Second)
	rdb := svc.Redis.Client(t)
	ctx := context.Background()

	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// The running `up` notices the lost view within a second and rebuilds it
	// in the background; `vacunometro rebuild` either does the rebuild or
	// follows the one running to its end.
	cmd := exec.Command(bin, "rebuild")
	cmd.Env = svc.Env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vacunometro rebuild: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "scanned 500") && !strings.Contains(string(out), "view total 500") {
		t.Errorf("rebuild output does not say what it did:\n%s", out)
	}
	after := waitTotal(t, up.URL, int64(len(acc)), 30*time.Second)
	if diff := stats.Tally(acc).Diff(after, true); len(diff) > 0 || after.Total != before.Total {
		t.Fatalf("rebuilt snapshot differs: %v", diff)
	}

	stop(t, up)
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	up2 := start(t, svc.Env, addr, "up", "--addr", addr, "--data", data, "--web", t.TempDir())
	again := waitTotal(t, up2.URL, int64(len(acc)), 30*time.Second)
	if diff := stats.Tally(acc).Diff(again, true); len(diff) > 0 {
		t.Fatalf("snapshot after restart on a wiped Redis differs: %v", diff)
	}
	if len(again.Latest) != 5 {
		t.Fatalf("latest records not restored: %d", len(again.Latest))
	}
}

// Bad input: each case gets its 4xx naming the field; nothing from a refused
// request is stored; the service keeps serving.
func TestBadInput(t *testing.T) {
	addr := testenv.FreeAddr(t)
	up := start(t, testenv.CleanEnv(), addr, "up", "--addr", addr, "--data", t.TempDir(), "--web", t.TempDir())
	good := `{"name":"Ana Lopez","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":2}`
	big := bytes.Repeat([]byte(" "), 20<<20)
	copy(big, good)
	tests := []struct {
		name, body, contentType string
		raw                     []byte
		code                    int
		field                   string
		index                   int
	}{
		{"age as string", `{"name":"Ana","location":"Petén","age":"30","vaccine_type":"Moderna","n_dose":1}`, "", nil, 422, "age", 0},
		{"name as number", `{"name":5,"location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1}`, "", nil, 422, "name", 0},
		{"dose as float", `{"name":"Ana","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1.5}`, "", nil, 422, "n_dose", 0},
		{"unknown department", `{"name":"Ana","location":"Narnia","age":30,"vaccine_type":"Moderna","n_dose":1}`, "", nil, 422, "location", 0},
		{"unknown vaccine", `{"name":"Ana","location":"Petén","age":30,"vaccine_type":"Sinovac","n_dose":1}`, "", nil, 422, "vaccine_type", 0},
		{"age -1", `{"name":"Ana","location":"Petén","age":-1,"vaccine_type":"Moderna","n_dose":1}`, "", nil, 422, "age", 0},
		{"age 999", `{"name":"Ana","location":"Petén","age":999,"vaccine_type":"Moderna","n_dose":1}`, "", nil, 422, "age", 0},
		{"n_dose 0", `{"name":"Ana","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":0}`, "", nil, 422, "n_dose", 0},
		{"n_dose 9", `{"name":"Ana","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":9}`, "", nil, 422, "n_dose", 0},
		{"empty name", `{"name":"  ","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1}`, "", nil, 422, "name", 0},
		{"missing fields", `{}`, "", nil, 422, "name", 0},
		{"bad id", `{"id":"a b","name":"Ana","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1}`, "", nil, 422, "id", 0},
		{"truncated JSON", `{"name":"Ana","location":"Pet`, "", nil, 400, "body", 0},
		{"not an object", `"hello"`, "", nil, 400, "body", 0},
		{"empty body", ``, "", nil, 400, "body", 0},
		{"20 MB body", "", "", big, 413, "", 0},
		{"wrong content type", good, "application/x-www-form-urlencoded", nil, 415, "", 0},
		{"text/html", good, "text/html", nil, 415, "", 0},
		{"one bad among good", "[" + good + "," + good + `,{"name":"Ana","location":"Petén","age":300,"vaccine_type":"Moderna","n_dose":1},` + good + "]", "", nil, 422, "age", 2},
		{"bad NDJSON line", good + "\n" + `{"name":"Ana","location":"Nowhere","age":3,"vaccine_type":"Moderna","n_dose":1}` + "\n", "application/x-ndjson", nil, 422, "location", 1},
		{"too many records", "[" + strings.Repeat(good+",", 1000) + good + "]", "", nil, 413, "", 0},
		// Issue 16: each of these was accepted.
		{"n_dose 1.0000000000000001", withField(good, `"n_dose":1.0000000000000001`), "", nil, 422, "n_dose", 0},
		{"duplicate key", withField(good, `"age":31`), "", nil, 422, "age", 0},
		{"key in upper case", `{"name":"Ana","location":"Petén","AGE":30,"vaccine_type":"Moderna","n_dose":1}`, "", nil, 422, "age", 0},
		{"invalid UTF-8", "", "", []byte("{\"name\":\"Ana \xff Lopez\",\"location\":\"Petén\",\"age\":30,\"vaccine_type\":\"Moderna\",\"n_dose\":1}"), 422, "name", 0},
		{"name of invisible characters", `{"name":"\u200b\u2060\u200b","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1}`, "", nil, 422, "name", 0},
		{"name of control characters", `{"name":"\u0001\u0002","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1}`, "", nil, 422, "name", 0},
		{"name with an RTL override", `{"name":"Ana \u202eacnaL","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1}`, "", nil, 422, "name", 0},
		{"vaccinated_at two hours ahead", withField(good, `"vaccinated_at":"`+time.Now().Add(2*time.Hour).UTC().Format(time.RFC3339)+`"`), "", nil, 422, "vaccinated_at", 0},
		{"vaccinated_at with +24:00", withField(good, `"vaccinated_at":"2021-08-01T10:00:00+24:00"`), "", nil, 422, "vaccinated_at", 0},
		{"one id twice (first)", "[" + withField(good, `"id":"twice"`) + "," + withField(good, `"id":"twice"`) + "]", "", nil, 422, "id", 0},
		{"one id twice (second)", "[" + withField(good, `"id":"twice"`) + "," + withField(good, `"id":"twice"`) + "]", "", nil, 422, "id", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.raw
			if body == nil {
				body = []byte(tt.body)
			}
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			code, out := post(t, up.URL+"/api/records", ct, body)
			if code != tt.code {
				t.Fatalf("status %d, want %d (%v)", code, tt.code, out)
			}
			if msg, _ := out["error"].(string); msg == "" {
				t.Fatalf("no error message in %v", out)
			}
			if tt.field == "" {
				return
			}
			errs, _ := out["errors"].([]any)
			found := false
			for _, e := range errs {
				m, _ := e.(map[string]any)
				if m["field"] == tt.field && int(m["index"].(float64)) == tt.index {
					found = true
				}
			}
			if !found {
				t.Fatalf("the answer does not name field %q at index %d: %v", tt.field, tt.index, out)
			}
		})
	}
	// Nothing was stored, and the service still serves.
	if s := snapshot(t, up.URL); s.Total != 0 {
		t.Fatalf("refused requests stored %d records", s.Total)
	}
	if code, out := post(t, up.URL+"/api/records", "application/json", []byte(good)); code != 202 {
		t.Fatalf("after the bad input a good record got %d %v", code, out)
	}
	waitTotal(t, up.URL, 1, 10*time.Second)
	var s map[string]any
	resp, _ := http.Get(up.URL + "/api/stats")
	_ = json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	latest := s["latest"].([]any)[0].(map[string]any)
	if latest["name"] != "Ana L." {
		t.Fatalf("latest record's name is %q, want it masked as \"Ana L.\"", latest["name"])
	}
}

// The parts run alone, as separate processes against the real services.
func TestPartsAsSeparateProcesses(t *testing.T) {
	svc := startServices(t)
	grpcAddr := testenv.FreeAddr(t)
	env := append(svc.Env, "GRPC_SERVER_ADDRESS="+grpcAddr)
	gh := testenv.FreeAddr(t)
	start(t, env, gh, "grpc-server", "--addr", grpcAddr, "--health-addr", gh)
	rh := testenv.FreeAddr(t)
	start(t, env, rh, "worker", "redis", "--health-addr", rh)
	ph := testenv.FreeAddr(t)
	start(t, env, ph, "worker", "pubsub", "--health-addr", ph)
	ia := testenv.FreeAddr(t)
	ing := start(t, env, ia, "ingest", "--addr", ia)
	ra := testenv.FreeAddr(t)
	rt := start(t, env, ra, "realtime", "--addr", ra, "--web", t.TempDir())

	acc := sendAll(t, ing.URL, inputs(600, ""), "array")
	acc = append(acc, sendAll(t, ing.URL, inputs(300, "single"), "single")...)
	snap := waitTotal(t, rt.URL, int64(len(acc)), 60*time.Second)
	if diff := stats.Tally(acc).Diff(snap, true); len(diff) > 0 {
		t.Fatalf("snapshot differs: %v", diff)
	}
	for _, r := range snap.Routes {
		if r.Count == 0 {
			t.Errorf("route %s carried nothing", r.Name)
		}
	}
	resp, err := http.Get(ing.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`vacunometro_records_total{outcome="accepted",route="grpc"}`, "vacunometro_route_handoff_seconds_bucket", "vacunometro_redis_stream_entries"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// withField adds a member to the JSON object obj (after the others: a key
// obj holds already is then given twice).
func withField(obj, member string) string {
	return strings.TrimSuffix(obj, "}") + "," + member + "}"
}
