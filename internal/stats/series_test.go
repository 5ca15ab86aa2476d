package stats

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/schema"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// writeLayout counts recs into Redis exactly as the agreed layout says the
// view does ({vac}:days and the dv:/da:/d: fields of {vac}:agg), for the
// readers' tests that must not depend on the view's apply script. The day
// is computed here on its own from the contract ("vaccinated_at, else the
// day received, in UTC-6").
func writeLayout(t *testing.T, rdb redis.UniversalClient, recs []record.Record) {
	t.Helper()
	ctx := context.Background()
	zone := time.FixedZone("UTC-6", -6*3600)
	pipe := rdb.Pipeline()
	for _, r := range recs {
		at := r.VaccinatedAt
		if at.IsZero() {
			at = r.ReceivedAt
		}
		day := at.In(zone).Format("2006-01-02")
		pipe.HIncrBy(ctx, schema.DaysKey, day+"|"+r.DepartmentCode+"|"+strconv.Itoa(r.Dose), 1)
		pipe.HIncrBy(ctx, schema.AggKey, "d:"+r.DepartmentCode+":"+strconv.Itoa(r.Dose), 1)
		pipe.HIncrBy(ctx, schema.AggKey, "dv:"+r.DepartmentCode+":"+r.Vaccine, 1)
		pipe.HIncrBy(ctx, schema.AggKey, "da:"+r.DepartmentCode+":"+record.AgeBand(r.Age), 1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func rec(id, code string, dose, age int, vaccine string, vaccinated, received string) record.Record {
	r := record.Record{ID: id, Name: "Ana Lopez", DepartmentCode: code, Age: age, Vaccine: vaccine, Dose: dose, Route: "grpc", ReceivedAt: ts(received)}
	if d, ok := catalog.Default().DepartmentByCode(code); ok {
		r.Department = d.Name
	}
	if vaccinated != "" {
		r.VaccinatedAt = ts(vaccinated)
	}
	return r
}

// seriesCase is the set of records used by the series tests, with what a
// person counting them by hand expects (days in Guatemala's time, UTC-6).
func seriesCase() (recs []record.Record, wantNational map[string][4]int64, wantGT09 map[string][4]int64) {
	recs = []record.Record{
		// 23:59:59 in Guatemala on 2021-03-01 is 05:59:59Z on 2021-03-02.
		rec("a1", "GT-09", 1, 34, "Moderna", "2021-03-02T05:59:59Z", "2026-12-01T12:00:00Z"),
		// one second later it is 2021-03-02 in Guatemala.
		rec("a2", "GT-09", 1, 35, "Moderna", "2021-03-02T06:00:00Z", "2026-12-01T12:00:00Z"),
		// an offset given explicitly: 2021-03-02 20:00 in Guatemala.
		rec("a3", "GT-09", 2, 70, "Sputnik V", "2021-03-02T20:00:00-06:00", "2026-12-01T12:00:00Z"),
		// without vaccinated_at: the day received, in Guatemala (03:00Z is the evening before).
		rec("a4", "GT-01", 1, 20, "Pfizer-BioNTech", "", "2021-03-04T03:00:00Z"),
		rec("a5", "GT-01", 3, 90, "Pfizer-BioNTech", "", "2021-03-04T12:00:00Z"),
		// a date far in the past (the campaign's first days).
		rec("a6", "GT-01", 1, 50, "Oxford/AstraZeneca", "2020-12-01T12:00:00Z", "2026-12-01T12:00:00Z"),
	}
	wantNational = map[string][4]int64{
		"2020-12-01": {1, 0, 0, 0},
		"2021-03-01": {1, 0, 0, 0},
		"2021-03-02": {1, 1, 0, 0},
		"2021-03-03": {1, 0, 0, 0},
		"2021-03-04": {0, 0, 1, 0},
	}
	wantGT09 = map[string][4]int64{
		"2021-03-01": {1, 0, 0, 0},
		"2021-03-02": {1, 1, 0, 0},
	}
	return recs, wantNational, wantGT09
}

func checkSeries(t *testing.T, s *Series, want map[string][4]int64, firstDay, lastDay string) {
	t.Helper()
	if s.From == nil || *s.From != firstDay || s.To == nil || *s.To != lastDay {
		t.Fatalf("series spans %v..%v, want %s..%s", deref(s.From), deref(s.To), firstDay, lastDay)
	}
	var cum [4]int64
	prev := ""
	for _, d := range s.Days {
		if prev != "" {
			p, _ := time.Parse(DayLayout, prev)
			if got := p.AddDate(0, 0, 1).Format(DayLayout); got != d.Date {
				t.Fatalf("day after %s is %s, want %s (series must be dense)", prev, d.Date, got)
			}
		}
		prev = d.Date
		if d.Doses != want[d.Date] {
			t.Errorf("%s: doses %v, want %v", d.Date, d.Doses, want[d.Date])
		}
		var tot int64
		for k := range 4 {
			cum[k] += d.Doses[k]
			tot += d.Doses[k]
		}
		if d.Total != tot || d.Cumulative != cum {
			t.Errorf("%s: total %d cumulative %v, want %d %v", d.Date, d.Total, d.Cumulative, tot, cum)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestSeriesMatchesIndependentCount(t *testing.T) {
	rs := testenv.StartRedis(t, false)
	rdb := rs.Client(t)
	cat := catalog.Default()
	recs, wantNat, want09 := seriesCase()
	writeLayout(t, rdb, recs)
	days, err := ReadDays(context.Background(), rdb, cat)
	if err != nil {
		t.Fatal(err)
	}
	if days.Total != int64(len(recs)) {
		t.Fatalf("days total %d, want %d", days.Total, len(recs))
	}
	nat, err := days.Series("", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, nat, wantNat, "2020-12-01", "2021-03-04")
	if nat.Department != nil || nat.Population != cat.Population() {
		t.Errorf("national series: department %v population %d", nat.Department, nat.Population)
	}
	gt09, err := days.Series("GT-09", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// A department's series spans the whole table (same dates for every chart).
	checkSeries(t, gt09, want09, "2020-12-01", "2021-03-04")
	if gt09.Name != "Quetzaltenango" {
		t.Errorf("GT-09 name %q", gt09.Name)
	}

	// from/to cut the days but cumulative counts what came before.
	cut, err := days.Series("", ts("2021-03-02T00:00:00Z"), ts("2021-03-02T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cut.Days) != 1 || cut.Days[0].Cumulative != [4]int64{3, 1, 0, 0} {
		t.Fatalf("cut series %+v, want one day with cumulative [3 1 0 0]", cut.Days)
	}
	if _, err := days.Series("GT-99", time.Time{}, time.Time{}); err == nil {
		t.Error("unknown department: no error")
	}

	// The open-data rows add up to the counts, per department and dose.
	sum := map[string]int64{}
	last := map[string]int64{}
	for _, r := range days.Rows() {
		k := fmt.Sprintf("%s/%d", r.DepartmentCode, r.Dose)
		sum[k] += r.Count
		last[k] = r.Cumulative
	}
	tally := Tally(recs)
	for code, doses := range tally.Departments {
		for i, n := range doses {
			k := fmt.Sprintf("%s/%d", code, i+1)
			if sum[k] != n || last[k] != n {
				t.Errorf("%s: rows sum %d, last cumulative %d, want %d", k, sum[k], last[k], n)
			}
		}
	}
}

func TestReadDepartment(t *testing.T) {
	rs := testenv.StartRedis(t, false)
	rdb := rs.Client(t)
	cat := catalog.Default()
	recs, _, _ := seriesCase()
	writeLayout(t, rdb, recs)
	d, err := ReadDepartment(context.Background(), rdb, cat, "GT-09")
	if err != nil {
		t.Fatal(err)
	}
	if d.Total != 3 || d.Doses != [4]int64{2, 1, 0, 0} || d.PeopleVaccinated != 2 || d.FullyVaccinated != 1 {
		t.Errorf("GT-09 %+v", d.DepartmentStats)
	}
	got := map[string]int64{}
	for _, v := range d.Vaccines {
		got[v.Name] = v.Count
	}
	if got["Moderna"] != 2 || got["Sputnik V"] != 1 || got["Pfizer-BioNTech"] != 0 || len(d.Vaccines) != len(cat.Vaccines()) {
		t.Errorf("GT-09 vaccines %+v", d.Vaccines)
	}
	bands := map[string]int64{}
	for _, b := range d.AgeBands {
		bands[b.Name] = b.Count
	}
	if bands["30-39"] != 2 || bands["70-79"] != 1 || len(d.AgeBands) != len(record.AgeBands) {
		t.Errorf("GT-09 age bands %+v", d.AgeBands)
	}
	if _, err := ReadDepartment(context.Background(), rdb, cat, "GT-23"); err == nil {
		t.Error("GT-23: no error")
	}
}

// TestViewWritesTheAgreedLayout checks the view's own apply script against
// the same hand count.
func TestViewWritesTheAgreedLayout(t *testing.T) {
	rs := testenv.StartRedis(t, false)
	rdb := rs.Client(t)
	cat := catalog.Default()
	recs, wantNat, want09 := seriesCase()
	ctx := context.Background()
	view := NewView(rdb, cat, []string{"grpc", "redis", "pubsub"})
	if err := view.Intend(ctx, "b1", "test", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := view.Commit(ctx, "b1", recs); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, schema.DaysKey).Result(); n == 0 {
		t.Fatal("the view wrote no {vac}:days")
	}
	days, err := ReadDays(ctx, rdb, cat)
	if err != nil {
		t.Fatal(err)
	}
	nat, _ := days.Series("", time.Time{}, time.Time{})
	checkSeries(t, nat, wantNat, "2020-12-01", "2021-03-04")
	gt09, _ := days.Series("GT-09", time.Time{}, time.Time{})
	checkSeries(t, gt09, want09, "2020-12-01", "2021-03-04")
	d, err := ReadDepartment(ctx, rdb, cat, "GT-09")
	if err != nil {
		t.Fatal(err)
	}
	if d.Vaccines[0].Count+d.Vaccines[1].Count+d.Vaccines[2].Count+d.Vaccines[3].Count != 3 {
		t.Errorf("GT-09 vaccines %+v, want 3 in all", d.Vaccines)
	}
}

// BenchmarkFrameSize reports the size of a WebSocket frame (the snapshot's
// JSON) without the series, with the national series of 2,000 days, and
// with every department's series: the figures behind keeping the series
// out of the frame (see series.go).
func BenchmarkFrameSize(b *testing.B) {
	cat := catalog.Default()
	snap := &Snapshot{Population: cat.Population(), Latest: []LatestRecord{}}
	for _, d := range cat.Departments() {
		snap.Departments = append(snap.Departments, DepartmentStats{Code: d.Code, Name: d.Name, Population: d.Population,
			Total: 1234567, Doses: [4]int64{612345, 512345, 100000, 9877}, PeopleVaccinated: 612345, FullyVaccinated: 512345,
			PeopleVaccinatedPct: 61.234567, FullyVaccinatedPct: 51.234567})
	}
	for _, v := range cat.Vaccines() {
		snap.Vaccines = append(snap.Vaccines, NamedCount{Name: v.Name, Count: 4123456})
	}
	for i := range 4 {
		snap.Doses = append(snap.Doses, NamedCount{Name: strconv.Itoa(i + 1), Count: 4123456})
	}
	for _, a := range record.AgeBands {
		snap.AgeBands = append(snap.AgeBands, NamedCount{Name: a, Count: 1234567})
	}
	for range 5 {
		snap.Latest = append(snap.Latest, LatestRecord{ID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Name: "Duglas F. A. T.", DepartmentCode: "GT-04", Department: "Chimaltenango", Age: 19, Vaccine: "Sputnik V", Dose: 1, Route: "grpc", ReceivedAt: time.Now()})
	}
	raw := map[string]string{}
	start := ts("2021-02-25T12:00:00Z")
	for i := range 2000 {
		day := start.AddDate(0, 0, i).Format(DayLayout)
		for _, d := range cat.Departments() {
			for dose := 1; dose <= 4; dose++ {
				raw[day+"|"+d.Code+"|"+strconv.Itoa(dose)] = strconv.Itoa(1000 + i + dose)
			}
		}
	}
	days := parseDays(raw, cat)
	nat, _ := days.Series("", time.Time{}, time.Time{})
	var all []*Series
	for _, d := range cat.Departments() {
		s, _ := days.Series(d.Code, time.Time{}, time.Time{})
		all = append(all, s)
	}
	size := func(v any) float64 {
		bs, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		return float64(len(bs))
	}
	base := size(snap)
	withNat := size(struct {
		*Snapshot
		Series *Series `json:"series"`
	}{snap, nat})
	withAll := size(struct {
		*Snapshot
		Series []*Series `json:"series"`
	}{snap, append([]*Series{nat}, all...)})
	for b.Loop() {
		_ = size(snap)
	}
	b.ReportMetric(base, "frame_bytes")
	b.ReportMetric(withNat, "with_national_series_bytes")
	b.ReportMetric(withAll, "with_all_series_bytes")
	b.ReportMetric(withNat/base, "national_ratio")
}
