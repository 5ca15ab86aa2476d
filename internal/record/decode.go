package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vacunometro/vacunometro/internal/catalog"
)

// FieldError names one bad field of one record.
type FieldError struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// FieldErrors are the bad fields of one record.
type FieldErrors []FieldError

func (e FieldErrors) Error() string {
	parts := make([]string, len(e))
	for i, f := range e {
		parts[i] = f.Field + ": " + f.Message
	}
	return strings.Join(parts, "; ")
}

// BatchError lists every bad field of every bad record in a request, by
// index. A request with any bad record is refused whole.
type BatchError struct {
	Errors []FieldError
}

func (e *BatchError) add(index int, err error) {
	var fe FieldErrors
	if errors.As(err, &fe) {
		for _, f := range fe {
			f.Index = index
			e.Errors = append(e.Errors, f)
		}
		return
	}
	e.Errors = append(e.Errors, FieldError{Index: index, Field: "record", Message: err.Error()})
}

func (e *BatchError) Error() string {
	if len(e.Errors) == 1 {
		f := e.Errors[0]
		return fmt.Sprintf("record %d: %s: %s", f.Index, f.Field, f.Message)
	}
	return fmt.Sprintf("%d invalid fields in the request", len(e.Errors))
}

// SyntaxError is a body that is not JSON, a JSON array or NDJSON.
type SyntaxError struct {
	Index int // the record being read, or -1 for the body as a whole
	Msg   string
}

func (e *SyntaxError) Error() string {
	if e.Index < 0 {
		return "malformed JSON: " + e.Msg
	}
	return fmt.Sprintf("record %d: malformed JSON: %s", e.Index, e.Msg)
}

// TooManyError is a request with more records than the limit.
type TooManyError struct{ Limit int }

func (e *TooManyError) Error() string {
	return fmt.Sprintf("too many records in one request (the limit is %d)", e.Limit)
}

// Decoder turns request bodies into validated, normalized records.
type Decoder struct {
	Catalog    *catalog.Catalog
	MaxRecords int              // per request; 0 means 1000
	IDs        *IDGenerator     // assigns ids to records without one
	Now        func() time.Time // defaults to time.Now
}

// wire is the input record as clients send it (README, "The record").
type wire struct {
	ID           json.RawMessage `json:"id"`
	Name         json.RawMessage `json:"name"`
	Location     json.RawMessage `json:"location"`
	Age          json.RawMessage `json:"age"`
	VaccineType  json.RawMessage `json:"vaccine_type"`
	NDose        json.RawMessage `json:"n_dose"`
	VaccinatedAt json.RawMessage `json:"vaccinated_at"`
}

// Decode reads one JSON object, a JSON array of objects, or NDJSON (one
// object per line) from body and returns the records, each validated and
// normalized, with ReceivedAt set and an id assigned where the client gave
// none. It returns *SyntaxError, *TooManyError or *BatchError; on any error
// no record is returned.
func (d *Decoder) Decode(body []byte) ([]Record, error) {
	max := d.MaxRecords
	if max <= 0 {
		max = 1000
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, &SyntaxError{Index: -1, Msg: "empty body; send a JSON object, an array of objects, or NDJSON"}
	}
	var raws []wire
	if body[0] == '[' {
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, &SyntaxError{Index: -1, Msg: describeJSONError(err)}
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(body))
		for i := 0; ; i++ {
			var w wire
			err := dec.Decode(&w)
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, &SyntaxError{Index: i, Msg: describeJSONError(err)}
			}
			raws = append(raws, w)
			if len(raws) > max {
				return nil, &TooManyError{Limit: max}
			}
		}
	}
	if len(raws) == 0 {
		return nil, &SyntaxError{Index: -1, Msg: "no records in the request"}
	}
	if len(raws) > max {
		return nil, &TooManyError{Limit: max}
	}
	t := now().UTC()
	out := make([]Record, len(raws))
	var errs BatchError
	for i := range raws {
		r, err := d.normalize(&raws[i], t)
		if err != nil {
			errs.add(i, err)
			continue
		}
		out[i] = r
	}
	if len(errs.Errors) > 0 {
		return nil, &errs
	}
	return out, nil
}

func describeJSONError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("expected an object, got %s", te.Value)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input (truncated?)"
	}
	return err.Error()
}

func (d *Decoder) normalize(w *wire, now time.Time) (Record, error) {
	var errs FieldErrors
	bad := func(field, msg string) { errs = append(errs, FieldError{Field: field, Message: msg}) }
	r := Record{ReceivedAt: now}

	if present(w.ID) {
		s, ok := str(w.ID)
		if !ok || !validID(s) {
			bad("id", "must be a string of 1 to 64 letters, digits, '-', '_', '.' or ':'")
		}
		r.ID = s
	}
	if s, ok := str(w.Name); !present(w.Name) {
		bad("name", "is required")
	} else if !ok {
		bad("name", "must be a string")
	} else {
		s = strings.Join(strings.Fields(s), " ")
		if n := utf8.RuneCountInString(s); n == 0 || n > MaxNameRunes {
			bad("name", "must be 1 to 200 characters")
		}
		r.Name = s
	}
	if s, ok := str(w.Location); !present(w.Location) {
		bad("location", "is required")
	} else if !ok {
		bad("location", "must be a string naming one of the 22 departments")
	} else if dep, found := d.Catalog.Department(s); !found {
		bad("location", fmt.Sprintf("unknown department %q", truncate(s, 60)))
	} else {
		r.DepartmentCode, r.Department = dep.Code, dep.Name
	}
	if n, ok := integer(w.Age); !present(w.Age) {
		bad("age", "is required")
	} else if !ok {
		bad("age", "must be a whole number")
	} else if n < MinAge || n > MaxAge {
		bad("age", "must be between 0 and 120")
	} else {
		r.Age = int(n)
	}
	if s, ok := str(w.VaccineType); !present(w.VaccineType) {
		bad("vaccine_type", "is required")
	} else if !ok {
		bad("vaccine_type", "must be a string")
	} else if v, found := d.Catalog.Vaccine(s); !found {
		bad("vaccine_type", fmt.Sprintf("unknown vaccine %q", truncate(s, 60)))
	} else {
		r.Vaccine = v.Name
	}
	if n, ok := integer(w.NDose); !present(w.NDose) {
		bad("n_dose", "is required")
	} else if !ok {
		bad("n_dose", "must be a whole number")
	} else if n < MinDose || n > MaxDose {
		bad("n_dose", "must be between 1 and 4")
	} else {
		r.Dose = int(n)
	}
	if present(w.VaccinatedAt) {
		s, ok := str(w.VaccinatedAt)
		t, err := parseTime(s)
		switch {
		case !ok || err != nil:
			bad("vaccinated_at", "must be an RFC 3339 time or a YYYY-MM-DD date")
		case t.Before(campaignStart) || t.After(now.Add(24*time.Hour)):
			bad("vaccinated_at", "must be between 2020-12-01 and now")
		default:
			r.VaccinatedAt = t.UTC()
		}
	}
	if len(errs) > 0 {
		return Record{}, errs
	}
	if r.ID == "" && d.IDs != nil {
		r.ID = d.IDs.New(now)
	}
	return r, nil
}

var campaignStart = time.Date(2020, 12, 1, 0, 0, 0, 0, time.UTC)

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

func str(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// integer accepts a JSON number with no fractional part (19 or 19.0).
func integer(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, false
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != float64(int64(f)) {
		return 0, false
	}
	return int64(f), true
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
