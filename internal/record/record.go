// Package record provides the vaccination record contract: decoding a JSON
// object, a JSON array or NDJSON, validating and normalizing each record, and
// the field-level errors a client sees.
package record

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vacunometro/vacunometro/internal/catalog"
	pb "github.com/vacunometro/vacunometro/proto/vacunometro/v1"
)

// Record is a validated, normalized vaccination record.
type Record struct {
	ID             string    `json:"id" bson:"_id"`
	Name           string    `json:"name" bson:"name"`
	DepartmentCode string    `json:"department_code" bson:"department_code"`
	Department     string    `json:"department" bson:"department"`
	Age            int       `json:"age" bson:"age"`
	Vaccine        string    `json:"vaccine" bson:"vaccine"`
	Dose           int       `json:"dose" bson:"dose"`
	VaccinatedAt   time.Time `json:"vaccinated_at,omitzero" bson:"vaccinated_at,omitempty"`
	ReceivedAt     time.Time `json:"received_at" bson:"received_at"`
	Route          string    `json:"route" bson:"route"`
	// Synthetic marks a test record (a release's smoke test, a load test):
	// stored like any other, counted apart, never in the public figures.
	Synthetic bool `json:"synthetic,omitempty" bson:"syn,omitempty"`
	// Trace is the W3C traceparent of the accepting request (tracing on);
	// it travels with the record over every route but is never stored.
	Trace string `json:"-" bson:"-"`
	// Producer is the name of the producer whose key the accepting request
	// carried (internal/producer): stored with the record in MongoDB,
	// never in public output.
	Producer string `json:"-" bson:"p,omitempty"`
}

// Limits of the contract (README, "The record").
const (
	MinAge, MaxAge   = 0, 120
	MinDose, MaxDose = 1, 4
	MaxNameRunes     = 200
	MaxIDLen         = 64
)

// AgeBands are the statistics' age bands, in order.
var AgeBands = [...]string{"0-11", "12-17", "18-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80+"}

// AgeBand returns the band that age falls in.
func AgeBand(age int) string {
	switch {
	case age < 12:
		return AgeBands[0]
	case age < 18:
		return AgeBands[1]
	case age < 30:
		return AgeBands[2]
	case age >= 80:
		return AgeBands[8]
	default:
		return AgeBands[(age-30)/10+3]
	}
}

// Limits of the public form of a name (MaskName).
const (
	// MaxShownLetters is the most letters of the input name that can appear
	// side by side in the public form: the first given name is cut there.
	MaxShownLetters = 20
	// MaxInitials is the most initials shown after the first given name.
	MaxInitials = 5
)

// MaskName keeps the first given name and the initials of the rest:
// "Duglas Francisco Avila Torres" becomes "Duglas F. A. T.".
//
// Words are runs of letters and combining marks; anything else (spaces,
// dots, commas, underscores, digits, zero-width or other invisible
// characters) separates them, so that no way of joining the parts publishes
// the name whole. The first word is cut to MaxShownLetters runes and at most
// MaxInitials initials follow; the result holds only letters, marks, spaces
// and dots.
func MaskName(name string) string {
	var b strings.Builder
	words, initials := 0, 0
	inWord, cut := false, false
	firstLen := 0
	for _, r := range name {
		letter := unicode.IsLetter(r)
		if !letter && !unicode.Is(unicode.M, r) {
			inWord = false
			continue
		}
		if !inWord {
			// A word starts; one of marks alone (no letter yet) is not a word.
			if !letter {
				continue
			}
			inWord = true
			words++
			if words == 1 {
				b.WriteRune(r)
				firstLen = 1
				continue
			}
			if initials < MaxInitials {
				initials++
				b.WriteByte(' ')
				b.WriteRune(unicode.ToUpper(r))
				b.WriteByte('.')
			}
			continue
		}
		if words == 1 && !cut {
			if firstLen >= MaxShownLetters {
				cut = true
				continue
			}
			b.WriteRune(r)
			firstLen++
		}
	}
	return b.String()
}

// validID reports whether s is an acceptable client idempotency key.
func validID(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// IDGenerator makes unique, time-ordered record ids (UUIDv7 layout, hex).
type IDGenerator struct {
	seq atomic.Uint64
}

// New returns a new id: 48 bits of Unix milliseconds, then random bits.
func (g *IDGenerator) New(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	_, _ = rand.Read(b[6:])
	s := g.seq.Add(1)
	b[6] = 0x70 | (b[6] & 0x0f) // version 7
	b[8] = 0x80 | (b[8] & 0x3f) // variant
	b[14], b[15] = byte(s>>8), byte(s)
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

// ToProto converts r to its wire form.
func (r Record) ToProto() *pb.Record {
	p := &pb.Record{
		Id: r.ID, Name: r.Name, DepartmentCode: r.DepartmentCode, Department: r.Department,
		Age: uint32(r.Age), Vaccine: r.Vaccine, Dose: uint32(r.Dose),
		ReceivedAtMs: r.ReceivedAt.UnixMilli(), Route: r.Route, Traceparent: r.Trace, Synthetic: r.Synthetic, Producer: r.Producer,
	}
	if !r.VaccinatedAt.IsZero() {
		p.VaccinatedAtMs = r.VaccinatedAt.UnixMilli()
	}
	return p
}

// FromProto converts a wire record back and re-checks it against the
// contract and the catalog, so that a malformed message from any route is
// refused rather than stored.
func FromProto(p *pb.Record, cat *catalog.Catalog) (Record, error) {
	r := Record{
		ID: p.GetId(), Name: p.GetName(), DepartmentCode: p.GetDepartmentCode(), Department: p.GetDepartment(),
		Age: int(p.GetAge()), Vaccine: p.GetVaccine(), Dose: int(p.GetDose()),
		ReceivedAt: time.UnixMilli(p.GetReceivedAtMs()).UTC(), Route: p.GetRoute(), Trace: p.GetTraceparent(),
		Synthetic: p.GetSynthetic(), Producer: p.GetProducer(),
	}
	if p.GetVaccinatedAtMs() != 0 {
		r.VaccinatedAt = time.UnixMilli(p.GetVaccinatedAtMs()).UTC()
	}
	var errs FieldErrors
	if !validID(r.ID) {
		errs = append(errs, FieldError{Field: "id", Message: "missing or malformed"})
	}
	if n := utf8.RuneCountInString(r.Name); n == 0 || n > MaxNameRunes || !utf8.ValidString(r.Name) {
		errs = append(errs, FieldError{Field: "name", Message: "must be 1 to 200 characters"})
	}
	if d, ok := cat.DepartmentByCode(r.DepartmentCode); !ok || d.Name != r.Department {
		errs = append(errs, FieldError{Field: "location", Message: "unknown department code"})
	}
	if v, ok := cat.Vaccine(r.Vaccine); !ok || v.Name != r.Vaccine {
		errs = append(errs, FieldError{Field: "vaccine_type", Message: "unknown vaccine"})
	}
	if r.Age > MaxAge {
		errs = append(errs, FieldError{Field: "age", Message: "must be between 0 and 120"})
	}
	if r.Dose < MinDose || r.Dose > MaxDose {
		errs = append(errs, FieldError{Field: "n_dose", Message: "must be between 1 and 4"})
	}
	if len(errs) > 0 {
		return Record{}, errs
	}
	return r, nil
}

// BatchToProto converts records to one wire batch.
func BatchToProto(recs []Record) *pb.RecordBatch {
	b := &pb.RecordBatch{Records: make([]*pb.Record, len(recs))}
	for i := range recs {
		b.Records[i] = recs[i].ToProto()
	}
	return b
}

// BatchFromProto converts and re-validates a wire batch.
func BatchFromProto(b *pb.RecordBatch, cat *catalog.Catalog) ([]Record, error) {
	out := make([]Record, 0, len(b.GetRecords()))
	var errs BatchError
	for i, p := range b.GetRecords() {
		r, err := FromProto(p, cat)
		if err != nil {
			errs.add(i, err)
			continue
		}
		out = append(out, r)
	}
	if len(errs.Errors) > 0 {
		return nil, &errs
	}
	return out, nil
}
