// Package publicapi provides the public read API beside the snapshot: the
// daily series (/api/series), a department's own figures
// (/api/departments/{code}), the open data downloads (/api/data/...), the
// OpenAPI document of the whole public HTTP API (/api/openapi.json), and a
// JSON 404/405 for every other /api/ path or method.
package publicapi

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/httpx"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/schema"
	"github.com/vacunometro/vacunometro/internal/stats"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3.1 document served at /api/openapi.json.
func OpenAPI() []byte { return bytes.Clone(openAPIDoc) }

// Snapshotter gives the statistics snapshot (stats.View does).
type Snapshotter interface {
	Snapshot(ctx context.Context) (*stats.Snapshot, error)
}

// Config wires a Server.
type Config struct {
	Redis   redis.UniversalClient // the view; nil: only the OpenAPI document and the JSON errors are served
	Catalog *catalog.Catalog
	Stats   Snapshotter      // for the departments download; required with Redis
	Metrics *metrics.Metrics // optional
	Log     *slog.Logger
	// Refresh is how long a read of the per-day table is served before the
	// view's total is checked again (default 1s).
	Refresh time.Duration
	Now     func() time.Time // default time.Now
}

// Server serves the public read API.
type Server struct {
	cfg Config

	mu      sync.Mutex
	days    *stats.Days
	total   int64
	checked time.Time
}

// New returns the server.
func New(cfg Config) *Server {
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Catalog == nil {
		cfg.Catalog = catalog.Default()
	}
	return &Server{cfg: cfg}
}

// Register adds the endpoints to mux, and the JSON answer for every other
// /api/ request (404 for an unknown path, 405 with Allow for a known path
// and a wrong method). The mux's other /api/ handlers must be registered
// with a method ("GET /api/stats"), as they all are.
func (s *Server) Register(mux *http.ServeMux) {
	h := func(name string, f http.HandlerFunc) http.Handler {
		if s.cfg.Metrics == nil {
			return f
		}
		return httpx.Instrument(s.cfg.Metrics, name, f)
	}
	mux.Handle("GET /api/openapi.json", h("openapi", s.handleOpenAPI))
	if s.cfg.Redis != nil {
		mux.Handle("GET /api/series", h("series", s.handleSeries))
		mux.Handle("GET /api/departments/{code}", h("department", s.handleDepartment))
		mux.Handle("GET /api/data", h("data", s.handleDictionary))
		mux.Handle("GET /api/data/dictionary.json", h("data", s.handleDictionary))
		mux.Handle("GET /api/data/departments.csv", h("data", s.handleDepartmentsCSV))
		mux.Handle("GET /api/data/departments.json", h("data", s.handleDepartmentsJSON))
		mux.Handle("GET /api/data/daily.csv", h("data", s.handleDailyCSV))
		mux.Handle("GET /api/data/daily.json", h("data", s.handleDailyJSON))
	}
	RegisterFallback(mux)
}

// fallbackMethods are the methods the fallback is registered for. A
// pattern without a method would conflict with the dashboard's "GET /".
var fallbackMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// RegisterFallback makes every /api/ request that no other pattern of mux
// takes answer in JSON: 405 with Allow when the path exists for other
// methods, else 404.
func RegisterFallback(mux *http.ServeMux) {
	fallback := map[string]bool{}
	for _, m := range fallbackMethods {
		fallback[m+" /api/"] = true
		fallback[m+" /api"] = true
	}
	f := func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range fallbackMethods {
			if m == r.Method || m == http.MethodOptions {
				continue
			}
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && !fallback[pattern] && pattern != "GET /" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			if contains(allow, http.MethodGet) {
				allow = append(allow, http.MethodHead)
			}
			w.Header().Set("Allow", strings.Join(allow, ", "))
			httpx.WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s: use %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		httpx.WriteError(w, http.StatusNotFound, fmt.Sprintf("no such API path: %s (the API is described at /api/openapi.json)", r.URL.Path))
	}
	for p := range fallback {
		mux.HandleFunc(p, f)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDoc)
}

// loadDays returns the per-day table, read again only when Refresh has
// passed and the view's total moved: however many clients ask, each
// process reads {vac}:days at most once per Refresh.
func (s *Server) loadDays(ctx context.Context) (*stats.Days, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if s.days != nil && now.Sub(s.checked) < s.cfg.Refresh {
		return s.days, nil
	}
	total, err := s.cfg.Redis.HGet(ctx, schema.AggKey, "total").Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read the view's total: %w", err)
	}
	if s.days != nil && total == s.total {
		s.checked = now
		return s.days, nil
	}
	days, err := stats.ReadDays(ctx, s.cfg.Redis, s.cfg.Catalog)
	if err != nil {
		return nil, err
	}
	s.days, s.total, s.checked = days, total, now
	return days, nil
}

var codeRE = regexp.MustCompile(`^GT-\d{2}$`)

// departmentParam resolves a department given by code (GT-09) or by name
// or alias ("Quetzaltenango", "xela"); "" is the whole country.
func (s *Server) departmentParam(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if codeRE.MatchString(strings.ToUpper(v)) {
		if d, ok := s.cfg.Catalog.DepartmentByCode(strings.ToUpper(v)); ok {
			return d.Code, nil
		}
	} else if d, ok := s.cfg.Catalog.Department(v); ok {
		return d.Code, nil
	}
	return "", fmt.Errorf("unknown department %q: use a code GT-01..GT-22", v)
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func badParams(w http.ResponseWriter, errs []fieldError) {
	httpx.WriteJSON(w, http.StatusBadRequest, httpx.Error{Error: "invalid query parameters", Errors: errs})
}

func (s *Server) unavailable(w http.ResponseWriter, what string, err error) {
	s.cfg.Log.Error(what, "err", err)
	w.Header().Set("Retry-After", "1")
	httpx.WriteError(w, http.StatusServiceUnavailable, what+" unavailable: Redis did not answer")
}

func (s *Server) handleSeries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs []fieldError
	code, err := s.departmentParam(q.Get("department"))
	if err != nil {
		errs = append(errs, fieldError{"department", err.Error()})
	}
	from, err := stats.ParseDay(q.Get("from"))
	if err != nil {
		errs = append(errs, fieldError{"from", err.Error()})
	}
	to, err := stats.ParseDay(q.Get("to"))
	if err != nil {
		errs = append(errs, fieldError{"to", err.Error()})
	}
	if len(errs) == 0 && !from.IsZero() && !to.IsZero() && to.Before(from) {
		errs = append(errs, fieldError{"to", "must not be before from"})
	}
	if len(errs) > 0 {
		badParams(w, errs)
		return
	}
	days, err := s.loadDays(r.Context())
	if err != nil {
		s.unavailable(w, "series", err)
		return
	}
	series, err := days.Series(code, from, to)
	if err != nil {
		badParams(w, []fieldError{{"department", err.Error()}})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, series)
}

func (s *Server) handleDepartment(w http.ResponseWriter, r *http.Request) {
	code, err := s.departmentParam(r.PathValue("code"))
	if err != nil || code == "" {
		httpx.WriteError(w, http.StatusNotFound, fmt.Sprintf("unknown department %q: use a code GT-01..GT-22", r.PathValue("code")))
		return
	}
	d, err := stats.ReadDepartment(r.Context(), s.cfg.Redis, s.cfg.Catalog, code)
	if err != nil {
		s.unavailable(w, "department", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, d)
}

// DepartmentRow is one row of the departments download.
type DepartmentRow struct {
	Code                string  `json:"code"`
	Name                string  `json:"name"`
	Population          int64   `json:"population"`
	Total               int64   `json:"total"`
	Dose1               int64   `json:"dose_1"`
	Dose2               int64   `json:"dose_2"`
	Dose3               int64   `json:"dose_3"`
	Dose4               int64   `json:"dose_4"`
	PeopleVaccinated    int64   `json:"people_vaccinated"`
	FullyVaccinated     int64   `json:"fully_vaccinated"`
	PeopleVaccinatedPct float64 `json:"people_vaccinated_pct"`
	FullyVaccinatedPct  float64 `json:"fully_vaccinated_pct"`
}

var departmentColumns = []string{"code", "name", "population", "total", "dose_1", "dose_2", "dose_3", "dose_4",
	"people_vaccinated", "fully_vaccinated", "people_vaccinated_pct", "fully_vaccinated_pct"}

var dailyColumns = []string{"date", "department_code", "department", "dose", "count", "cumulative"}

func (s *Server) departmentRows(ctx context.Context) ([]DepartmentRow, *stats.Snapshot, error) {
	snap, err := s.cfg.Stats.Snapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	rows := make([]DepartmentRow, 0, len(snap.Departments))
	for _, d := range snap.Departments {
		rows = append(rows, DepartmentRow{Code: d.Code, Name: d.Name, Population: d.Population, Total: d.Total,
			Dose1: d.Doses[0], Dose2: d.Doses[1], Dose3: d.Doses[2], Dose4: d.Doses[3],
			PeopleVaccinated: d.PeopleVaccinated, FullyVaccinated: d.FullyVaccinated,
			PeopleVaccinatedPct: d.PeopleVaccinatedPct, FullyVaccinatedPct: d.FullyVaccinatedPct})
	}
	return rows, snap, nil
}

// Download is the JSON form of a download: the rows and what they are.
type Download[T any] struct {
	Dictionary  string    `json:"dictionary"` // where the data dictionary is
	GeneratedAt time.Time `json:"generated_at"`
	Rows        []T       `json:"rows"`
}

func (s *Server) handleDepartmentsJSON(w http.ResponseWriter, r *http.Request) {
	rows, snap, err := s.departmentRows(r.Context())
	if err != nil {
		s.unavailable(w, "departments", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, Download[DepartmentRow]{Dictionary: "/api/data/dictionary.json", GeneratedAt: snap.GeneratedAt, Rows: rows})
}

func (s *Server) handleDepartmentsCSV(w http.ResponseWriter, r *http.Request) {
	rows, _, err := s.departmentRows(r.Context())
	if err != nil {
		s.unavailable(w, "departments", err)
		return
	}
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	writeCSV(w, "vacunometro-departamentos.csv", departmentColumns, len(rows), func(k int) []string {
		d := rows[k]
		return []string{d.Code, d.Name, i(d.Population), i(d.Total), i(d.Dose1), i(d.Dose2), i(d.Dose3), i(d.Dose4),
			i(d.PeopleVaccinated), i(d.FullyVaccinated), f(d.PeopleVaccinatedPct), f(d.FullyVaccinatedPct)}
	})
}

func (s *Server) handleDailyJSON(w http.ResponseWriter, r *http.Request) {
	days, err := s.loadDays(r.Context())
	if err != nil {
		s.unavailable(w, "daily data", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, Download[stats.DailyRow]{Dictionary: "/api/data/dictionary.json", GeneratedAt: s.cfg.Now().UTC(), Rows: days.Rows()})
}

func (s *Server) handleDailyCSV(w http.ResponseWriter, r *http.Request) {
	days, err := s.loadDays(r.Context())
	if err != nil {
		s.unavailable(w, "daily data", err)
		return
	}
	rows := days.Rows()
	writeCSV(w, "vacunometro-diario.csv", dailyColumns, len(rows), func(k int) []string {
		d := rows[k]
		return []string{d.Date, d.DepartmentCode, d.Department, strconv.Itoa(d.Dose), strconv.FormatInt(d.Count, 10), strconv.FormatInt(d.Cumulative, 10)}
	})
}

func writeCSV(w http.ResponseWriter, filename string, header []string, n int, row func(int) []string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8; header=present")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write(header)
	for k := range n {
		_ = cw.Write(row(k))
	}
	cw.Flush()
}

// Column describes one column of a download.
type Column struct {
	Name        string `json:"name"`
	Type        string `json:"type"` // string, integer, number, date
	Unit        string `json:"unit,omitempty"`
	Description string `json:"description"`
}

// File describes one download.
type File struct {
	Name        string   `json:"name"`
	CSV         string   `json:"csv"`
	JSON        string   `json:"json"`
	Description string   `json:"description"`
	Columns     []Column `json:"columns"`
}

// Dictionary is the data dictionary of the downloads.
type Dictionary struct {
	Title      string   `json:"title"`
	Publisher  string   `json:"publisher"`
	TimeZone   string   `json:"time_zone"`
	Population string   `json:"population"`
	Privacy    string   `json:"privacy"`
	Counting   string   `json:"counting"`
	Files      []File   `json:"files"`
	Notes      []string `json:"notes"`
}

// DataDictionary is what /api/data/dictionary.json serves.
func DataDictionary() Dictionary {
	return Dictionary{
		Title:      "vacunometro: COVID-19 vaccination in Guatemala, open data",
		Publisher:  "vacunometro",
		TimeZone:   "Days are calendar days in America/Guatemala (UTC-06:00, no daylight saving time): a record's vaccinated_at, or the moment it was received when it has none.",
		Population: "Populations are the 2018 national census (INE, Censo 2018); percentages are of that population, in percent (0-100).",
		Privacy:    "No record-level data is published: only counts. Names are never published (the dashboard shows the latest records with masked names only).",
		Counting:   "Each record is one dose given to one person; dose 1 is the first dose, dose 2 completes the primary series of every vaccine used, doses 3 and 4 are boosters. A record is counted once, after it is stored.",
		Files: []File{
			{Name: "departments", CSV: "/api/data/departments.csv", JSON: "/api/data/departments.json",
				Description: "One row per department (22): population and doses given so far.",
				Columns: []Column{
					{"code", "string", "", "ISO 3166-2 code, GT-01..GT-22"},
					{"name", "string", "", "department name"},
					{"population", "integer", "people", "2018 census population"},
					{"total", "integer", "doses", "all doses given"},
					{"dose_1", "integer", "doses", "first doses"},
					{"dose_2", "integer", "doses", "second doses (primary series complete)"},
					{"dose_3", "integer", "doses", "first boosters"},
					{"dose_4", "integer", "doses", "second boosters"},
					{"people_vaccinated", "integer", "people", "people with at least a first dose (= dose_1)"},
					{"fully_vaccinated", "integer", "people", "people with the full primary series (= dose_2)"},
					{"people_vaccinated_pct", "number", "percent", "people_vaccinated / population x 100"},
					{"fully_vaccinated_pct", "number", "percent", "fully_vaccinated / population x 100"},
				}},
			{Name: "daily", CSV: "/api/data/daily.csv", JSON: "/api/data/daily.json",
				Description: "One row per day, department and dose with at least one dose given that day.",
				Columns: []Column{
					{"date", "date", "", "YYYY-MM-DD in America/Guatemala (UTC-06:00)"},
					{"department_code", "string", "", "ISO 3166-2 code, GT-01..GT-22"},
					{"department", "string", "", "department name"},
					{"dose", "integer", "", "dose number, 1-4"},
					{"count", "integer", "doses", "doses of that number given that day in that department"},
					{"cumulative", "integer", "doses", "doses of that number given up to and including that day in that department"},
				}},
		},
		Notes: []string{
			"Figures change as records arrive; generated_at in the JSON forms tells when they were read.",
			"Days with no dose are left out of the daily table; /api/series gives every day with zeros.",
		},
	}
}

func (s *Server) handleDictionary(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(DataDictionary())
}
