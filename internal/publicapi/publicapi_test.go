package publicapi_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/publicapi"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// countLayout counts recs into the view, as a sink's commit does.
func countLayout(t *testing.T, rdb redis.UniversalClient, recs []record.Record) {
	t.Helper()
	ctx := context.Background()
	view := stats.NewView(rdb, catalog.Default(), route.All)
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	batch := stats.NewBatchID()
	if err := view.Intend(ctx, batch, "test", ids); err != nil {
		t.Fatal(err)
	}
	if _, err := view.Commit(ctx, batch, recs); err != nil {
		t.Fatal(err)
	}
}

// sampleRecords are records over several days and departments, decoded
// through the real record contract.
func sampleRecords(t *testing.T) []record.Record {
	t.Helper()
	body := `[
 {"id":"r1","name":"Ana María Zapeta","location":"Quetzaltenango","age":34,"vaccine_type":"Moderna","n_dose":1,"vaccinated_at":"2021-03-02T05:59:59Z"},
 {"id":"r2","name":"Luis Ixcoy","location":"xela","age":35,"vaccine_type":"moderna","n_dose":2,"vaccinated_at":"2021-03-02T06:00:00Z"},
 {"id":"r3","name":"Rosa Tzul","location":"Guatemala","age":70,"vaccine_type":"Sputnik-V","n_dose":1,"vaccinated_at":"2021-03-05T12:00:00-06:00"},
 {"id":"r4","name":"Juan Batz","location":"Petén","age":15,"vaccine_type":"Pfizer","n_dose":3},
 {"id":"r5","name":"Eva Chojolán","location":"Quetzaltenango","age":81,"vaccine_type":"Covishield","n_dose":1,"vaccinated_at":"2020-12-01T08:00:00-06:00"}
]`
	dec := &record.Decoder{Catalog: catalog.Default(), IDs: &record.IDGenerator{}}
	recs, err := dec.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		recs[i].Route = "grpc"
	}
	return recs
}

func newServer(t *testing.T) (http.Handler, redis.UniversalClient) {
	t.Helper()
	rs := testenv.StartRedis(t, false)
	rdb := rs.Client(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/stats", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST /api/records", func(w http.ResponseWriter, r *http.Request) {})
	publicapi.New(publicapi.Config{Redis: rdb, Catalog: catalog.Default(), Stats: stats.NewView(rdb, catalog.Default(), route.All), Refresh: time.Nanosecond}).Register(mux)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<html>dashboard</html>") })
	return mux, rdb
}

func get(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

func TestSeriesEndpoint(t *testing.T) {
	h, rdb := newServer(t)
	recs := sampleRecords(t)
	countLayout(t, rdb, recs)

	w := get(t, h, "GET", "/api/series?department=GT-09")
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var s stats.Series
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	// By hand: GT-09 has dose 1 on 2020-12-01 and 2021-03-01 (05:59:59Z is
	// still the evening before in Guatemala), dose 2 on 2021-03-02.
	got := map[string][4]int64{}
	for _, d := range s.Days {
		if d.Total > 0 {
			got[d.Date] = d.Doses
		}
	}
	want := map[string][4]int64{"2020-12-01": {1, 0, 0, 0}, "2021-03-01": {1, 0, 0, 0}, "2021-03-02": {0, 1, 0, 0}}
	if len(got) != len(want) {
		t.Fatalf("GT-09 days with doses %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("GT-09 %s: %v, want %v", k, got[k], v)
		}
	}
	if last := s.Days[len(s.Days)-1].Cumulative; last != [4]int64{2, 1, 0, 0} {
		t.Errorf("GT-09 cumulative at the end %v, want [2 1 0 0]", last)
	}

	// The record without vaccinated_at counts on the day it was received.
	today := time.Now().In(stats.Guatemala).Format(stats.DayLayout)
	w = get(t, h, "GET", "/api/series?from="+today+"&to="+today)
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Days) != 1 || s.Days[0].Doses != [4]int64{0, 0, 1, 0} || s.Days[0].Cumulative != [4]int64{3, 1, 1, 0} {
		t.Errorf("national %s: %+v, want dose 3 once, cumulative [3 1 1 0]", today, s.Days)
	}

	for _, bad := range []string{"department=GT-99", "department=Narnia", "from=2021-13-01", "from=2021-03-05&to=2021-03-01", "to=yesterday"} {
		w := get(t, h, "GET", "/api/series?"+bad)
		var e struct {
			Error  string `json:"error"`
			Errors []struct{ Field string }
		}
		if w.Code != 400 || json.Unmarshal(w.Body.Bytes(), &e) != nil || len(e.Errors) == 0 {
			t.Errorf("%s: status %d body %s, want 400 naming the parameter", bad, w.Code, w.Body)
		}
	}
}

func TestDepartmentEndpoint(t *testing.T) {
	h, rdb := newServer(t)
	countLayout(t, rdb, sampleRecords(t))
	for _, path := range []string{"/api/departments/GT-09", "/api/departments/gt-09", "/api/departments/Quetzaltenango"} {
		w := get(t, h, "GET", path)
		var d stats.DepartmentDetail
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &d) != nil {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		vac := map[string]int64{}
		for _, v := range d.Vaccines {
			vac[v.Name] = v.Count
		}
		bands := map[string]int64{}
		for _, b := range d.AgeBands {
			bands[b.Name] = b.Count
		}
		if d.Code != "GT-09" || d.Total != 3 || vac["Moderna"] != 2 || vac["Oxford/AstraZeneca"] != 1 || bands["30-39"] != 2 || bands["80+"] != 1 {
			t.Errorf("%s: %+v", path, d)
		}
	}
	if w := get(t, h, "GET", "/api/departments/GT-23"); w.Code != 404 || !isJSON(w) {
		t.Errorf("GT-23: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
}

func isJSON(w *httptest.ResponseRecorder) bool {
	return strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") && json.Valid(w.Body.Bytes())
}

func readCSV(t *testing.T, w *httptest.ResponseRecorder) []map[string]string {
	t.Helper()
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("status %d type %q", w.Code, w.Header().Get("Content-Type"))
	}
	rows, err := csv.NewReader(w.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, c := range rows[0] {
			m[c] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func TestDownloadsAddUpToTheSnapshot(t *testing.T) {
	h, rdb := newServer(t)
	recs := sampleRecords(t)
	countLayout(t, rdb, recs)
	snap, err := stats.NewView(rdb, catalog.Default(), route.All).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][4]int64{}
	for _, d := range snap.Departments {
		want[d.Code] = d.Doses
	}

	deps := readCSV(t, get(t, h, "GET", "/api/data/departments.csv"))
	if len(deps) != 22 {
		t.Fatalf("departments.csv: %d rows, want 22", len(deps))
	}
	var total int64
	for _, r := range deps {
		for k := range 4 {
			n, _ := strconv.ParseInt(r["dose_"+strconv.Itoa(k+1)], 10, 64)
			if n != want[r["code"]][k] {
				t.Errorf("departments.csv %s dose %d: %d, want %d", r["code"], k+1, n, want[r["code"]][k])
			}
		}
		n, _ := strconv.ParseInt(r["total"], 10, 64)
		total += n
	}
	if total != snap.Total || total != int64(len(recs)) {
		t.Errorf("departments.csv total %d, snapshot %d, posted %d", total, snap.Total, len(recs))
	}

	daily := readCSV(t, get(t, h, "GET", "/api/data/daily.csv"))
	sum := map[string][4]int64{}
	last := map[string][4]int64{}
	for _, r := range daily {
		dose, _ := strconv.Atoi(r["dose"])
		n, _ := strconv.ParseInt(r["count"], 10, 64)
		c, _ := strconv.ParseInt(r["cumulative"], 10, 64)
		s := sum[r["department_code"]]
		s[dose-1] += n
		sum[r["department_code"]] = s
		l := last[r["department_code"]]
		l[dose-1] = c
		last[r["department_code"]] = l
	}
	for code, d := range want {
		if sum[code] != d || last[code] != d {
			t.Errorf("daily.csv %s: counts add to %v, last cumulative %v, snapshot %v", code, sum[code], last[code], d)
		}
	}

	// The JSON forms carry the same rows.
	var dj publicapi.Download[stats.DailyRow]
	if w := get(t, h, "GET", "/api/data/daily.json"); json.Unmarshal(w.Body.Bytes(), &dj) != nil || len(dj.Rows) != len(daily) {
		t.Errorf("daily.json: %d rows, csv %d", len(dj.Rows), len(daily))
	}
	var pj publicapi.Download[publicapi.DepartmentRow]
	if w := get(t, h, "GET", "/api/data/departments.json"); json.Unmarshal(w.Body.Bytes(), &pj) != nil || len(pj.Rows) != 22 {
		t.Errorf("departments.json: %d rows", len(pj.Rows))
	}
	// No name, masked or not, in any download.
	for _, p := range []string{"/api/data/daily.csv", "/api/data/daily.json", "/api/data/departments.csv", "/api/data/departments.json"} {
		body := get(t, h, "GET", p).Body.String()
		for _, name := range []string{"Zapeta", "Ixcoy", "Tzul", "Batz", "Chojol"} {
			if strings.Contains(body, name) {
				t.Errorf("%s contains the name %q", p, name)
			}
		}
	}
	var dict publicapi.Dictionary
	if w := get(t, h, "GET", "/api/data/dictionary.json"); json.Unmarshal(w.Body.Bytes(), &dict) != nil || !strings.Contains(dict.Population, "2018") || !strings.Contains(dict.TimeZone, "America/Guatemala") {
		t.Errorf("dictionary: %+v", dict)
	}
}

func TestUnknownAPIAnswersJSON(t *testing.T) {
	h, _ := newServer(t)
	cases := []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/api/nothing", 404, ""},
		{"GET", "/api/data/nothing.csv", 404, ""},
		{"DELETE", "/api/nothing", 404, ""},
		{"GET", "/api", 404, ""},
		{"POST", "/api/stats", 405, "GET, HEAD"},
		{"DELETE", "/api/series", 405, "GET, HEAD"},
		{"GET", "/api/records", 405, "POST"},
		{"PUT", "/api/openapi.json", 405, "GET, HEAD"},
	}
	for _, c := range cases {
		w := get(t, h, c.method, c.path)
		if w.Code != c.code || !isJSON(w) || w.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s: %d %q Allow %q: %s; want %d JSON Allow %q", c.method, c.path, w.Code, w.Header().Get("Content-Type"), w.Header().Get("Allow"), w.Body, c.code, c.allow)
		}
	}
	// The dashboard still answers outside /api/.
	if w := get(t, h, "GET", "/anything"); w.Code != 200 || !strings.Contains(w.Body.String(), "dashboard") {
		t.Errorf("GET /anything: %d %s", w.Code, w.Body)
	}
}

// The series is read from Redis at most once per Refresh, and again only
// when the view's total moved.
func TestSeriesCache(t *testing.T) {
	rs := testenv.StartRedis(t, false)
	rdb := rs.Client(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	srv := publicapi.New(publicapi.Config{Redis: rdb, Catalog: catalog.Default(), Stats: stats.NewView(rdb, catalog.Default(), route.All),
		Refresh: time.Second, Now: func() time.Time { return now }})
	mux := http.NewServeMux()
	srv.Register(mux)
	total := func() int64 {
		var s stats.Series
		_ = json.Unmarshal(get(t, mux, "GET", "/api/series").Body.Bytes(), &s)
		if len(s.Days) == 0 {
			return 0
		}
		c := s.Days[len(s.Days)-1].Cumulative
		return c[0] + c[1] + c[2] + c[3]
	}
	recs := sampleRecords(t)
	countLayout(t, rdb, recs[:2])
	if n := total(); n != 2 {
		t.Fatalf("first read %d, want 2", n)
	}
	countLayout(t, rdb, recs[2:])
	if n := total(); n != 2 {
		t.Errorf("within Refresh: %d, want the cached 2", n)
	}
	now = now.Add(2 * time.Second)
	if n := total(); n != 5 {
		t.Errorf("after Refresh with a new total: %d, want 5", n)
	}
}
