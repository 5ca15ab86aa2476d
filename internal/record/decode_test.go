package record

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/catalog"
)

func newDecoder() *Decoder {
	return &Decoder{Catalog: catalog.Default(), IDs: &IDGenerator{}, Now: func() time.Time {
		return time.Date(2021, 9, 1, 12, 0, 0, 0, time.UTC)
	}}
}

const seedRecord = `{"name":"Duglas Francisco Avila Torres","location":"Chimaltenango","age":19,"vaccine_type":"Sputnik V","n_dose":1}`

func TestDecodeShapes(t *testing.T) {
	d := newDecoder()
	tests := []struct {
		name string
		body string
		n    int
	}{
		{"object", seedRecord, 1},
		{"object with spaces", "  \n" + seedRecord + "\n ", 1},
		{"array", "[" + seedRecord + "," + seedRecord + "]", 2},
		{"ndjson", seedRecord + "\n" + seedRecord + "\n" + seedRecord + "\n", 3},
		{"ndjson no final newline", seedRecord + "\n" + seedRecord, 2},
		{"concatenated objects", seedRecord + seedRecord, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := d.Decode([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tt.n {
				t.Fatalf("got %d records, want %d", len(recs), tt.n)
			}
			r := recs[0]
			if r.DepartmentCode != "GT-04" || r.Department != "Chimaltenango" || r.Vaccine != "Sputnik V" || r.Age != 19 || r.Dose != 1 {
				t.Fatalf("normalized to %+v", r)
			}
			if r.ID == "" || r.ID == recs[len(recs)-1].ID && len(recs) > 1 {
				t.Fatalf("ids not assigned uniquely: %q", r.ID)
			}
		})
	}
}

func TestNormalization(t *testing.T) {
	d := newDecoder()
	tests := []struct {
		location, vaccine, code, dept, vac string
	}{
		{"quiche", "sputnik v", "GT-14", "Quiché", "Sputnik V"},
		{"EL PETÉN", "Sputnik-V", "GT-17", "Petén", "Sputnik V"},
		{"Xela", "pfizer", "GT-09", "Quetzaltenango", "Pfizer-BioNTech"},
		{"sacatepequez", "AstraZeneca", "GT-03", "Sacatepéquez", "Oxford/AstraZeneca"},
	}
	for _, tt := range tests {
		body := `{"name":"Ana","location":"` + tt.location + `","age":40,"vaccine_type":"` + tt.vaccine + `","n_dose":2,"id":"x-1","vaccinated_at":"2021-08-01"}`
		recs, err := d.Decode([]byte(body))
		if err != nil {
			t.Fatalf("%s/%s: %v", tt.location, tt.vaccine, err)
		}
		r := recs[0]
		if r.DepartmentCode != tt.code || r.Department != tt.dept || r.Vaccine != tt.vac || r.ID != "x-1" || r.VaccinatedAt.IsZero() {
			t.Errorf("%s/%s normalized to %+v", tt.location, tt.vaccine, r)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	d := newDecoder()
	d.MaxRecords = 3
	rec := func(override string) string {
		return `{"name":"Ana","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1` + override + `}`
	}
	tests := []struct {
		name  string
		body  string
		kind  string // batch, syntax, toomany
		field string
		index int
	}{
		{"age string", rec(`,"age":"30"`), "batch", "age", 0},
		{"age -1", rec(`,"age":-1`), "batch", "age", 0},
		{"age 999", rec(`,"age":999`), "batch", "age", 0},
		{"age fraction", rec(`,"age":30.5`), "batch", "age", 0},
		{"age huge", rec(`,"age":1e300`), "batch", "age", 0},
		{"dose 0", rec(`,"n_dose":0`), "batch", "n_dose", 0},
		{"dose 9", rec(`,"n_dose":9`), "batch", "n_dose", 0},
		{"dose null", rec(`,"n_dose":null`), "batch", "n_dose", 0},
		{"empty name", rec(`,"name":""`), "batch", "name", 0},
		{"long name", rec(`,"name":"` + strings.Repeat("a", 201) + `"`), "batch", "name", 0},
		{"name array", rec(`,"name":["a"]`), "batch", "name", 0},
		{"unknown department", rec(`,"location":"Atlantis"`), "batch", "location", 0},
		{"unknown vaccine", rec(`,"vaccine_type":"Sinovac"`), "batch", "vaccine_type", 0},
		{"bad date", rec(`,"vaccinated_at":"yesterday"`), "batch", "vaccinated_at", 0},
		{"date before campaign", rec(`,"vaccinated_at":"2019-01-01"`), "batch", "vaccinated_at", 0},
		{"bad id", rec(`,"id":"has space"`), "batch", "id", 0},
		{"id number", rec(`,"id":12`), "batch", "id", 0},
		{"second bad in array", "[" + rec("") + "," + rec(`,"age":130`) + "]", "batch", "age", 1},
		{"truncated", `{"name":"Ana","loc`, "syntax", "", 0},
		{"truncated array", `[` + rec(""), "syntax", "", -1},
		{"number", `42`, "syntax", "", 0},
		{"string", `"x"`, "syntax", "", 0},
		{"empty", ``, "syntax", "", -1},
		{"empty array", `[]`, "syntax", "", -1},
		{"array of numbers", `[1,2]`, "syntax", "", -1},
		{"too many", "[" + strings.Repeat(rec("")+",", 3) + rec("") + "]", "toomany", "", 0},
		{"too many ndjson", strings.Repeat(rec("")+"\n", 4), "toomany", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := d.Decode([]byte(tt.body))
			if err == nil {
				t.Fatalf("accepted %+v", recs)
			}
			if recs != nil {
				t.Fatal("records returned with an error")
			}
			var be *BatchError
			var se *SyntaxError
			var tm *TooManyError
			switch tt.kind {
			case "batch":
				if !errors.As(err, &be) {
					t.Fatalf("err = %T %v, want *BatchError", err, err)
				}
				for _, f := range be.Errors {
					if f.Field == tt.field && f.Index == tt.index && f.Message != "" {
						return
					}
				}
				t.Fatalf("errors %+v do not name %s at %d", be.Errors, tt.field, tt.index)
			case "syntax":
				if !errors.As(err, &se) {
					t.Fatalf("err = %T %v, want *SyntaxError", err, err)
				}
			case "toomany":
				if !errors.As(err, &tm) {
					t.Fatalf("err = %T %v, want *TooManyError", err, err)
				}
			}
		})
	}
}

func TestAllFieldsOfABadRecordAreNamed(t *testing.T) {
	_, err := newDecoder().Decode([]byte(`{"age":-3,"n_dose":7,"location":"X","vaccine_type":"Y"}`))
	var be *BatchError
	if !errors.As(err, &be) {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range be.Errors {
		got[f.Field] = true
	}
	for _, f := range []string{"name", "age", "n_dose", "location", "vaccine_type"} {
		if !got[f] {
			t.Errorf("field %s not named in %+v", f, be.Errors)
		}
	}
}

func TestMaskName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Duglas Francisco Avila Torres", "Duglas F. A. T."},
		{"Ana", "Ana"},
		{"  maría   josé  ", "maría J."},
		{"Ángel Ñuñez", "Ángel Ñ."},
		{"", ""},
	}
	for _, tt := range tests {
		if got := MaskName(tt.in); got != tt.want {
			t.Errorf("MaskName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAgeBand(t *testing.T) {
	tests := []struct {
		age  int
		band string
	}{{0, "0-11"}, {11, "0-11"}, {12, "12-17"}, {17, "12-17"}, {18, "18-29"}, {29, "18-29"}, {30, "30-39"}, {45, "40-49"}, {59, "50-59"}, {60, "60-69"}, {79, "70-79"}, {80, "80+"}, {120, "80+"}}
	for _, tt := range tests {
		if got := AgeBand(tt.age); got != tt.band {
			t.Errorf("AgeBand(%d) = %s, want %s", tt.age, got, tt.band)
		}
	}
}

func TestProtoRoundTripRevalidates(t *testing.T) {
	d := newDecoder()
	recs, err := d.Decode([]byte(seedRecord))
	if err != nil {
		t.Fatal(err)
	}
	recs[0].Route = "grpc"
	back, err := BatchFromProto(BatchToProto(recs), catalog.Default())
	if err != nil || back[0] != recs[0] {
		t.Fatalf("round trip: %+v, %v; want %+v", back, err, recs[0])
	}
	p := BatchToProto(recs)
	p.Records[0].DepartmentCode = "GT-99"
	if _, err := BatchFromProto(p, catalog.Default()); err == nil {
		t.Fatal("a wire record with an unknown department was accepted")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(seedRecord))
	f.Add([]byte("[" + seedRecord + "]"))
	f.Add([]byte(seedRecord + "\n" + seedRecord))
	f.Add([]byte(`{"name":"a","location":"quiche","age":1e2,"vaccine_type":"pfizer","n_dose":2.0,"id":"k","vaccinated_at":"2021-05-05T10:00:00Z"}`))
	f.Add([]byte(`[{"age":"x"},{}]`))
	d := newDecoder()
	cat := catalog.Default()
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := d.Decode(body)
		if err != nil {
			if recs != nil {
				t.Fatal("records with an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if len(recs) == 0 {
			t.Fatal("no records and no error")
		}
		for _, r := range recs {
			if _, err := FromProto(r.ToProto(), cat); err != nil {
				t.Fatalf("accepted a record the wire check refuses: %+v: %v", r, err)
			}
		}
	})
}
