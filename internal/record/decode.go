package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
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

// wire is the input record as clients send it (README, "The record"), and
// the problems with the object's keys (keyErrs, from checkKeys).
type wire struct {
	ID           json.RawMessage `json:"id"`
	Name         json.RawMessage `json:"name"`
	Location     json.RawMessage `json:"location"`
	Age          json.RawMessage `json:"age"`
	VaccineType  json.RawMessage `json:"vaccine_type"`
	NDose        json.RawMessage `json:"n_dose"`
	VaccinatedAt json.RawMessage `json:"vaccinated_at"`
	Synthetic    json.RawMessage `json:"synthetic"`
	keyErrs      FieldErrors
}

var knownKeys = [...]string{"id", "name", "location", "age", "vaccine_type", "n_dose", "vaccinated_at", "synthetic"}

// checkKeys finds, in a body encoding/json has already read into raws, the
// keys it would have taken wrongly: a known key given twice in one record
// (encoding/json keeps the last) or in another letter case ("AGE", which
// encoding/json matches case-insensitively). Each becomes an error of that
// field in raws[i].keyErrs. Other keys are ignored, as before. One pass
// over the bytes, no allocation for a clean body. inArray tells whether
// the records are the elements of a top-level array.
func checkKeys(body []byte, inArray bool, raws []wire) {
	recDepth := 1 // depth inside a record's object
	if inArray {
		recDepth = 2
	}
	depth, rec := 0, -1
	expectKey := false
	var seen uint32
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '"':
			j, escaped := i+1, false
			for j < len(body) && body[j] != '"' {
				if body[j] == '\\' {
					escaped = true
					j++
				}
				j++
			}
			if expectKey && depth == recDepth && rec >= 0 && rec < len(raws) {
				seen = checkKey(body[i+1:min(j, len(body))], escaped, &raws[rec], seen)
			}
			expectKey = false
			i = j
		case '{':
			depth++
			if depth == recDepth {
				rec++
				seen = 0
				expectKey = true
			}
		case '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == recDepth
		}
	}
}

var knownKeyBytes = func() (b [len(knownKeys)][]byte) {
	for i, k := range knownKeys {
		b[i] = []byte(k)
	}
	return b
}()

func checkKey(raw []byte, escaped bool, w *wire, seen uint32) uint32 {
	if escaped {
		var s string
		if json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s) != nil {
			return seen
		}
		raw = []byte(s)
	}
	for k, known := range knownKeys {
		switch {
		case string(raw) == known:
			if seen&(1<<k) != 0 {
				w.keyErrs = append(w.keyErrs, FieldError{Field: known, Message: "given more than once"})
			}
			seen |= 1 << k
		case bytes.EqualFold(raw, knownKeyBytes[k]):
			w.keyErrs = append(w.keyErrs, FieldError{Field: known, Message: fmt.Sprintf("key %q: field names are lower case (%q)", truncate(string(raw), 40), known)})
		}
	}
	return seen
}

// Decode reads one JSON object, a JSON array of objects, or NDJSON (one
// object per line) from body and returns the records, each validated and
// normalized, with ReceivedAt set and an id assigned where the client gave
// none. RFC 7464 JSON text sequences (each object after an RS, 0x1E) are
// read as NDJSON. It returns *SyntaxError, *TooManyError or *BatchError; on
// any error no record is returned. A client id given to two records of one
// request is an error at both indexes.
func (d *Decoder) Decode(body []byte) ([]Record, error) {
	recs, _, err := d.DecodeClient(body)
	return recs, err
}

// DecodeClient is Decode that also returns the indexes of the records whose
// id the client gave (the others got one from d.IDs).
func (d *Decoder) DecodeClient(body []byte) ([]Record, []int, error) {
	max := d.MaxRecords
	if max <= 0 {
		max = 1000
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	if bytes.IndexByte(body, recordSeparator) >= 0 {
		// application/json-seq: RS is whitespace to us.
		body = bytes.ReplaceAll(body, []byte{recordSeparator}, []byte{'\n'})
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, nil, &SyntaxError{Index: -1, Msg: "empty body; send a JSON object, an array of objects, or NDJSON"}
	}
	var raws []wire
	inArray := body[0] == '['
	if inArray {
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, nil, &SyntaxError{Index: -1, Msg: describeJSONError(err)}
		}
	} else if raws = oneObject(body); raws == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		for i := 0; ; i++ {
			var w wire
			err := dec.Decode(&w)
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, nil, &SyntaxError{Index: i, Msg: describeJSONError(err)}
			}
			raws = append(raws, w)
			if len(raws) > max {
				return nil, nil, &TooManyError{Limit: max}
			}
		}
	}
	if len(raws) == 0 {
		return nil, nil, &SyntaxError{Index: -1, Msg: "no records in the request"}
	}
	if len(raws) > max {
		return nil, nil, &TooManyError{Limit: max}
	}
	checkKeys(body, inArray, raws)
	t := now().UTC()
	out := make([]Record, len(raws))
	var errs BatchError
	var firstWithID map[string]int // made for the second record with an id
	var clientIDs []int
	for i := range raws {
		r, err := d.normalize(&raws[i], t)
		if err != nil {
			errs.add(i, err)
			continue
		}
		if present(raws[i].ID) {
			clientIDs = append(clientIDs, i)
			if firstWithID == nil {
				firstWithID = make(map[string]int, len(raws))
			}
			if j, dup := firstWithID[r.ID]; dup {
				errs.add(j, FieldErrors{{Field: "id", Message: fmt.Sprintf("id %q is also given to record %d: one id, one record", r.ID, i)}})
				errs.add(i, FieldErrors{{Field: "id", Message: fmt.Sprintf("id %q is also given to record %d: one id, one record", r.ID, j)}})
			} else {
				firstWithID[r.ID] = i
			}
		}
		out[i] = r
	}
	if len(errs.Errors) > 0 {
		return nil, nil, &errs
	}
	return out, clientIDs, nil
}

const recordSeparator = 0x1e

// oneObject decodes a body that is one JSON object (the commonest
// request: one record) without a stream decoder and its buffer; nil when
// the body is anything else (NDJSON, or an error the stream decoder then
// describes). For NDJSON it costs a scan of the first object only: the
// syntax check stops where the second begins.
func oneObject(body []byte) []wire {
	if body[len(body)-1] != '}' {
		return nil
	}
	raws := make([]wire, 1)
	if json.Unmarshal(body, &raws[0]) != nil {
		return nil
	}
	return raws
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
	errs := w.keyErrs
	bad := func(field, msg string) { errs = append(errs, FieldError{Field: field, Message: msg}) }
	r := Record{ReceivedAt: now}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"id", w.ID}, {"name", w.Name}, {"location", w.Location}, {"vaccine_type", w.VaccineType}, {"vaccinated_at", w.VaccinatedAt}} {
		if !utf8.Valid(f.raw) || hasLoneSurrogate(f.raw) {
			bad(f.name, "is not valid UTF-8 text")
			return Record{}, errs
		}
	}

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
		} else if msg := checkName(s); msg != "" {
			bad("name", msg)
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
		case !offsetOK(t):
			bad("vaccinated_at", "the UTC offset must be between -12:00 and +14:00")
		case t.Before(campaignStart) || t.After(now.Add(ClockSkew)):
			bad("vaccinated_at", "must be between 2020-12-01 and now")
		default:
			r.VaccinatedAt = t.UTC()
		}
	}
	if present(w.Synthetic) {
		switch string(w.Synthetic) {
		case "true":
			r.Synthetic = true
		case "false":
		default:
			bad("synthetic", "must be true or false")
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

var campaignStart = time.Date(2020, 12, 1, 0, 0, 0, 0, guatemala)

// ClockSkew is how far in the future a vaccinated_at may lie: the sender's
// clock may run a little ahead, a vaccination cannot.
const ClockSkew = 5 * time.Minute

// offsetOK reports whether t's UTC offset is one a clock can have (-12:00
// to +14:00); time.Parse takes up to ±24:00.
func offsetOK(t time.Time) bool {
	_, off := t.Zone()
	return off >= -12*3600 && off <= 14*3600
}

// checkName refuses names no person has: without a letter (only invisible,
// control or punctuation characters), or holding control characters,
// bidirectional overrides (which reorder what a reader sees), the
// replacement character of a broken encoding, or private-use code points.
// It returns the message, or "".
func checkName(s string) string {
	letters := 0
	for _, r := range s {
		switch {
		case unicode.IsLetter(r):
			letters++
		case bidiControl(r):
			return "must not hold bidirectional control characters (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F, U+061C)"
		case unicode.IsControl(r), unicode.Is(unicode.Co, r), unicode.Is(unicode.Cs, r), r == utf8.RuneError:
			return "must not hold control, private-use or replacement characters"
		}
	}
	if letters == 0 {
		return "must hold at least one letter"
	}
	return ""
}

func bidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c
}

// hasLoneSurrogate reports whether a JSON string holds an escaped UTF-16
// surrogate that is not part of a pair (encoding/json turns it into U+FFFD).
func hasLoneSurrogate(raw json.RawMessage) bool {
	if !bytes.Contains(raw, []byte(`\u`)) {
		return false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return false
	}
	return strings.ContainsRune(s, utf8.RuneError) && !strings.ContainsRune(string(raw), utf8.RuneError) && !bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`))
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	// A date alone is that day in Guatemala (its midnight, UTC-6), so that
	// it counts on the same day in the daily figures.
	return time.ParseInLocation(time.DateOnly, s, guatemala)
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

func str(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	// A string token alone (encoding/json checked the body; no space after
	// it) with no escape and valid UTF-8: its value is the bytes between the
	// quotes, what json.Unmarshal would return, without its reflection.
	if inner := raw[1 : len(raw)-1]; raw[len(raw)-1] == '"' && bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// integer accepts a JSON number whose value is a whole number (19, 19.0,
// 1.9e1), exactly: 1.0000000000000001 is not 1, though a float64 says so.
// Values beyond ±10^18 come back as math.MaxInt64 (or its negative), which
// every range check refuses.
func integer(raw json.RawMessage) (int64, bool) {
	s := string(raw)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil {
			// An exponent that does not fit an int: huge or tiny.
			if strings.HasPrefix(s[i+1:], "-") {
				return 0, false
			}
			e = math.MaxInt32
		}
		mant, exp = s[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	exp -= len(frac)
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	for _, c := range intPart + frac {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	if digits == "" {
		return 0, true
	}
	if exp < 0 {
		return 0, false // a fraction remains
	}
	big := int64(math.MaxInt64)
	if neg {
		big = -big
	}
	if len(digits)+exp > 18 {
		return big, true
	}
	n, err := strconv.ParseInt(digits+strings.Repeat("0", exp), 10, 64)
	if err != nil {
		return big, true
	}
	if neg {
		n = -n
	}
	return n, true
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
