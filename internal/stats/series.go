package stats

// The view's per-day counts and per-department breakdowns, read for the
// public API (/api/series, /api/departments/{code}, /api/data/...).
//
// These readers take a redis.UniversalClient and the catalog rather than a
// *View, so that they depend only on the agreed layout of the keys:
//
//   - hash {vac}:days: field "YYYY-MM-DD|GT-xx|D" (date, department code,
//     dose 1-4) -> count. The date is the record's vaccinated_at in
//     America/Guatemala (fixed UTC-6, no DST) or, without it, the day it
//     was received in the same zone. Bounded by days x 22 x 4 fields (the
//     campaign since 2020-12-01 is about 2,200 days: under 200,000 fields).
//   - hash {vac}:agg: d:<code>:<dose>, dv:<code>:<vaccine>, da:<code>:<band>.
//
// Frame size (BenchmarkFrameSize, go test -run X -bench FrameSize
// ./internal/stats/, with 7-digit counts): the snapshot frame is 7.0 KB;
// with the national daily series of 2,000 days in it, 249 KB (35x); with
// every department's series too, 5.1 MB. The issue allows 1.2x of the
// current fan-out, so the series stays out of the frame: the dashboard
// fetches GET /api/series (cached per process: reloaded at most once a
// second, and only when the view's total moved) when a frame shows that the
// total changed.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/schema"
)

// Guatemala is the time zone of the per-day counts: America/Guatemala, a
// fixed UTC-6 with no daylight saving time since 2006.
var Guatemala = time.FixedZone("America/Guatemala", -6*60*60)

// DayLayout is the format of a day in the series.
const DayLayout = time.DateOnly

// Days is the whole per-day table read from {vac}:days: dense from the
// first day with any record to the last one.
type Days struct {
	Dates  []string              // ascending, every day from first to last
	ByDept map[string][][4]int64 // department code -> per date (aligned with Dates) -> by dose
	Total  int64                 // sum of every count
	first  time.Time             // Dates[0] as a time
	index  map[string]int        // date -> index in Dates
	codes  []string              // catalog order
	pop    map[string]int64      // population by code
	names  map[string]string     // name by code
	natPop int64                 // national population
}

// maxDays bounds the dense table: the campaign started on 2020-12-01 and
// the record contract refuses earlier dates, so this is decades of room and
// still guards against a stray field.
const maxDays = 20000

// ReadDays reads {vac}:days (one HGETALL; bounded by days, not records).
// Fields that do not parse, or name an unknown department or dose, are
// skipped.
func ReadDays(ctx context.Context, rdb redis.UniversalClient, cat *catalog.Catalog) (*Days, error) {
	raw, err := rdb.HGetAll(ctx, schema.DaysKey).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("stats: read days: %w", err)
	}
	return parseDays(raw, cat), nil
}

type dayCell struct {
	day  time.Time
	code string
	dose int
	n    int64
}

func parseDays(raw map[string]string, cat *catalog.Catalog) *Days {
	d := &Days{ByDept: map[string][][4]int64{}, index: map[string]int{}, pop: map[string]int64{}, names: map[string]string{}, natPop: cat.Population()}
	for _, dep := range cat.Departments() {
		d.codes = append(d.codes, dep.Code)
		d.pop[dep.Code] = dep.Population
		d.names[dep.Code] = dep.Name
	}
	cells := make([]dayCell, 0, len(raw))
	var lo, hi time.Time
	for field, val := range raw {
		date, rest, ok1 := strings.Cut(field, "|")
		code, doseStr, ok2 := strings.Cut(rest, "|")
		if !ok1 || !ok2 {
			continue
		}
		day, err := time.Parse(DayLayout, date)
		if err != nil {
			continue
		}
		dose, err := strconv.Atoi(doseStr)
		if err != nil || dose < record.MinDose || dose > record.MaxDose {
			continue
		}
		if _, ok := d.pop[code]; !ok {
			continue
		}
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil || n <= 0 {
			continue
		}
		cells = append(cells, dayCell{day: day, code: code, dose: dose, n: n})
		if lo.IsZero() || day.Before(lo) {
			lo = day
		}
		if hi.IsZero() || day.After(hi) {
			hi = day
		}
	}
	if len(cells) == 0 {
		return d
	}
	span := int(hi.Sub(lo).Hours()/24) + 1
	if span > maxDays { // keep the latest maxDays days
		lo = hi.AddDate(0, 0, -(maxDays - 1))
		span = maxDays
	}
	d.first = lo
	d.Dates = make([]string, span)
	for i := range span {
		d.Dates[i] = lo.AddDate(0, 0, i).Format(DayLayout)
		d.index[d.Dates[i]] = i
	}
	for _, c := range cells {
		i := int(c.day.Sub(lo).Hours() / 24)
		if i < 0 {
			continue
		}
		rows := d.ByDept[c.code]
		if rows == nil {
			rows = make([][4]int64, span)
			d.ByDept[c.code] = rows
		}
		rows[i][c.dose-1] += c.n
		d.Total += c.n
	}
	return d
}

// SeriesDay is one day of a series.
type SeriesDay struct {
	Date       string   `json:"date"`       // YYYY-MM-DD in America/Guatemala
	Doses      [4]int64 `json:"doses"`      // doses given that day, index 0 is dose 1
	Total      int64    `json:"total"`      // all doses that day
	Cumulative [4]int64 `json:"cumulative"` // doses given up to and including that day, by dose
}

// Series is the daily series of the country or of one department.
type Series struct {
	Department *string     `json:"department"` // ISO 3166-2 code; null for the whole country
	Name       string      `json:"name"`
	Population int64       `json:"population"` // 2018 census
	TimeZone   string      `json:"time_zone"`  // "America/Guatemala"
	UTCOffset  string      `json:"utc_offset"` // "-06:00"
	From       *string     `json:"from"`       // first day returned; null when there is none
	To         *string     `json:"to"`         // last day returned; null when there is none
	Days       []SeriesDay `json:"days"`       // every day from From to To, zero days included
}

// ErrUnknownDepartment is returned for a department code not in the catalog.
var ErrUnknownDepartment = errors.New("unknown department code")

// CountryName is the series' name for the whole country.
const CountryName = "Guatemala"

// Series returns the daily series of department code ("" for the whole
// country) between from and to (YYYY-MM-DD, inclusive; zero for open).
// The cumulative figures count every earlier day too, also before from.
func (d *Days) Series(code string, from, to time.Time) (*Series, error) {
	s := &Series{Name: CountryName, Population: d.natPop, TimeZone: "America/Guatemala", UTCOffset: "-06:00", Days: []SeriesDay{}}
	var rows [][][4]int64
	if code != "" {
		pop, ok := d.pop[code]
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrUnknownDepartment, code)
		}
		c := code
		s.Department, s.Name, s.Population = &c, d.names[code], pop
		if r := d.ByDept[code]; r != nil {
			rows = append(rows, r)
		}
	} else {
		for _, c := range d.codes {
			if r := d.ByDept[c]; r != nil {
				rows = append(rows, r)
			}
		}
	}
	var cum [4]int64
	for i, date := range d.Dates {
		var day SeriesDay
		day.Date = date
		for _, r := range rows {
			for k := range 4 {
				day.Doses[k] += r[i][k]
			}
		}
		for k := range 4 {
			cum[k] += day.Doses[k]
			day.Total += day.Doses[k]
		}
		day.Cumulative = cum
		t := d.first.AddDate(0, 0, i)
		if (!from.IsZero() && t.Before(from)) || (!to.IsZero() && t.After(to)) {
			continue
		}
		s.Days = append(s.Days, day)
	}
	if n := len(s.Days); n > 0 {
		f, l := s.Days[0].Date, s.Days[n-1].Date
		s.From, s.To = &f, &l
	}
	return s, nil
}

// DailyRow is one row of the open-data daily table: one department, one
// dose, one day on which any was given.
type DailyRow struct {
	Date           string `json:"date"`
	DepartmentCode string `json:"department_code"`
	Department     string `json:"department"`
	Dose           int    `json:"dose"`
	Count          int64  `json:"count"`      // doses given that day
	Cumulative     int64  `json:"cumulative"` // doses given up to and including that day
}

// Rows returns the daily table, by date, then department (code order), then
// dose; rows with a zero count are left out.
func (d *Days) Rows() []DailyRow {
	out := []DailyRow{}
	cum := map[string]*[4]int64{}
	for _, c := range d.codes {
		cum[c] = new([4]int64)
	}
	for i, date := range d.Dates {
		for _, c := range d.codes {
			r := d.ByDept[c]
			if r == nil {
				continue
			}
			for k := range 4 {
				if n := r[i][k]; n > 0 {
					cum[c][k] += n
					out = append(out, DailyRow{Date: date, DepartmentCode: c, Department: d.names[c], Dose: k + 1, Count: n, Cumulative: cum[c][k]})
				}
			}
		}
	}
	return out
}

// DepartmentDetail is one department's own figures: its counts by dose,
// vaccine and age band, read from its own fields of the view (no scan).
type DepartmentDetail struct {
	DepartmentStats
	Vaccines []NamedCount `json:"vaccines"`  // every catalog vaccine, in catalog order
	DoseList []NamedCount `json:"by_dose"`   // "1".."4"
	AgeBands []NamedCount `json:"age_bands"` // "0-11" .. "80+"
}

// ReadDepartment reads one department's figures in one HMGET.
func ReadDepartment(ctx context.Context, rdb redis.UniversalClient, cat *catalog.Catalog, code string) (*DepartmentDetail, error) {
	dep, ok := cat.DepartmentByCode(code)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownDepartment, code)
	}
	vaccines := cat.Vaccines()
	fields := make([]string, 0, 4+len(vaccines)+len(record.AgeBands))
	for dose := 1; dose <= 4; dose++ {
		fields = append(fields, "d:"+code+":"+strconv.Itoa(dose))
	}
	for _, v := range vaccines {
		fields = append(fields, "dv:"+code+":"+v.Name)
	}
	for _, b := range record.AgeBands {
		fields = append(fields, "da:"+code+":"+b)
	}
	vals, err := rdb.HMGet(ctx, schema.AggKey, fields...).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("stats: read department %s: %w", code, err)
	}
	num := func(i int) int64 {
		if i >= len(vals) {
			return 0
		}
		s, _ := vals[i].(string)
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	out := &DepartmentDetail{DepartmentStats: DepartmentStats{Code: dep.Code, Name: dep.Name, Population: dep.Population}}
	i := 0
	for dose := 1; dose <= 4; dose++ {
		n := num(i)
		i++
		out.Doses[dose-1] = n
		out.Total += n
		out.DoseList = append(out.DoseList, NamedCount{Name: strconv.Itoa(dose), Count: n})
	}
	out.PeopleVaccinated, out.FullyVaccinated = out.Doses[0], out.Doses[1]
	out.PeopleVaccinatedPct = pct(out.PeopleVaccinated, dep.Population)
	out.FullyVaccinatedPct = pct(out.FullyVaccinated, dep.Population)
	for _, v := range vaccines {
		out.Vaccines = append(out.Vaccines, NamedCount{Name: v.Name, Count: num(i)})
		i++
	}
	for _, b := range record.AgeBands {
		out.AgeBands = append(out.AgeBands, NamedCount{Name: b, Count: num(i)})
		i++
	}
	return out, nil
}

// ParseDay parses a YYYY-MM-DD day of the series ("" gives the zero time).
func ParseDay(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(DayLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be a YYYY-MM-DD date: %q", s)
	}
	return t, nil
}
