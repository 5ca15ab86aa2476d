package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

func series(t *testing.T, base, query string) stats.Series {
	t.Helper()
	resp, err := http.Get(base + "/api/series" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s stats.Series
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&s) != nil {
		t.Fatalf("GET /api/series%s: %d", query, resp.StatusCode)
	}
	return s
}

func byDay(s stats.Series) map[string][4]int64 {
	out := map[string][4]int64{}
	for _, d := range s.Days {
		if d.Total > 0 {
			out[d.Date] = d.Doses
		}
	}
	return out
}

// The daily series of the real binary equals a count by hand of what was
// posted: with and without vaccinated_at, around midnight in Guatemala
// (UTC-6), the campaign's first day; a future date is refused with 422; and
// a full rebuild from MongoDB gives the same series.
func TestSeriesEqualsWhatWasPosted(t *testing.T) {
	svc := startServices(t)
	addr := testenv.FreeAddr(t)
	up := start(t, svc.Env, addr, "up", "--addr", addr, "--data", t.TempDir(), "--web", t.TempDir())
	day0 := time.Now().In(stats.Guatemala).Format(stats.DayLayout)
	body := []byte(`[
 {"id":"s1","name":"Eva Chojolán","location":"Quetzaltenango","age":34,"vaccine_type":"Moderna","n_dose":1,"vaccinated_at":"2021-03-02T05:59:59Z"},
 {"id":"s2","name":"Luis Ixcoy","location":"Xela","age":45,"vaccine_type":"Moderna","n_dose":2,"vaccinated_at":"2021-03-02T06:00:00Z"},
 {"id":"s3","name":"Rosa Tzul","location":"Quetzaltenango","age":60,"vaccine_type":"Sputnik V","n_dose":1,"vaccinated_at":"2021-03-01T23:30:00-06:00"},
 {"id":"s4","name":"Ana Zapeta","location":"Petén","age":71,"vaccine_type":"Pfizer","n_dose":3},
 {"id":"s5","name":"Juan Batz","location":"Petén","age":81,"vaccine_type":"Covishield","n_dose":1,"vaccinated_at":"2020-12-01T09:00:00-06:00"}
]`)
	if code, out := post(t, up.URL+"/api/records", "application/json", body); code != 202 {
		t.Fatalf("POST: %d %v", code, out)
	}
	future := time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)
	if code, out := post(t, up.URL+"/api/records", "application/json", []byte(`{"name":"Futuro","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1,"vaccinated_at":"`+future+`"}`)); code != 422 {
		t.Fatalf("a future vaccinated_at: %d %v, want 422", code, out)
	}
	waitTotal(t, up.URL, 5, 20*time.Second)
	day1 := time.Now().In(stats.Guatemala).Format(stats.DayLayout)
	nat := series(t, up.URL, "")
	if len(nat.Days) == 0 {
		t.Fatal("no daily series after records were counted")
	}
	want := map[string][4]int64{
		"2020-12-01": {1, 0, 0, 0}, // Petén
		"2021-03-01": {2, 0, 0, 0}, // 05:59:59Z and 23:30-06:00: still March 1st in Guatemala
		"2021-03-02": {0, 1, 0, 0},
	}
	got := byDay(nat)
	received := got[day0]
	if day1 != day0 && received == ([4]int64{}) { // posted across midnight
		received = got[day1]
		delete(got, day1)
	} else {
		delete(got, day0)
	}
	if received != ([4]int64{0, 0, 1, 0}) {
		t.Errorf("the record without vaccinated_at: counted %v on %s, want dose 3 once", received, day0)
	}
	if len(got) != len(want) {
		t.Errorf("national series %v, want %v", got, want)
	}
	for d, w := range want {
		if got[d] != w {
			t.Errorf("national %s: %v, want %v", d, got[d], w)
		}
	}
	if g := byDay(series(t, up.URL, "?department=GT-09")); len(g) != 2 || g["2021-03-01"] != [4]int64{2, 0, 0, 0} || g["2021-03-02"] != [4]int64{0, 1, 0, 0} {
		t.Errorf("GT-09 series %v", g)
	}

	// A full rebuild from MongoDB gives the same series: after FLUSHALL the
	// running `up` rebuilds the lost view by itself within a second or so,
	// and `vacunometro rebuild` does it (or follows that one) on request.
	if err := svc.Redis.Client(t).FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "rebuild")
	cmd.Env = svc.Env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vacunometro rebuild: %v\n%s", err, out)
	}
	waitTotal(t, up.URL, 5, 20*time.Second)
	time.Sleep(1100 * time.Millisecond) // the series cache checks the total at most once a second
	again := series(t, up.URL, "")
	if a, b := byDay(again), byDay(nat); len(a) != len(b) {
		t.Fatalf("after a rebuild: %v, before %v", a, b)
	} else {
		for d := range b {
			if a[d] != b[d] {
				t.Errorf("after a rebuild %s: %v, before %v", d, a[d], b[d])
			}
		}
	}
}
