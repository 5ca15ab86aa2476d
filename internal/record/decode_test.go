package record

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode"

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
		// Issue 16: each of these was accepted.
		{"dose 1.0000000000000001", rec(`,"n_dose":1.0000000000000001`), "batch", "n_dose", 0},
		{"age 30.000000000000001", rec(`,"age":30.000000000000001`), "batch", "age", 0},
		{"duplicate key", rec(`,"age":31`), "batch", "age", 0},
		{"duplicate key with null", rec(`,"n_dose":null`), "batch", "n_dose", 0},
		{"key in upper case", `{"name":"Ana","location":"Petén","AGE":30,"vaccine_type":"Moderna","n_dose":1}`, "batch", "age", 0},
		{"key in mixed case besides the right one", rec(`,"N_Dose":3`), "batch", "n_dose", 0},
		{"invalid UTF-8 in name", rec(",\"name\":\"Ana \xff\xfe Lopez\""), "batch", "name", 0},
		{"invalid UTF-8 in location", rec(",\"location\":\"Pet\xe9n\""), "batch", "location", 0},
		{"lone surrogate in name", rec(`,"name":"Ana \ud800 Lopez"`), "batch", "name", 0},
		{"replacement character in name", rec(`,"name":"Ana \ufffd"`), "batch", "name", 0},
		{"name of zero-width spaces", rec(`,"name":"\u200b\u200b\u2060"`), "batch", "name", 0},
		{"name of control characters", rec(`,"name":"\u0001\u0002"`), "batch", "name", 0},
		{"name with a control character", rec(`,"name":"Ana\u0007 Lopez"`), "batch", "name", 0},
		{"name of punctuation", rec(`,"name":"..._,"`), "batch", "name", 0},
		{"name with RTL override", rec(`,"name":"Ana \u202ezepoL"`), "batch", "name", 0},
		{"name with RTL isolate", rec(`,"name":"Ana \u2067Lopez\u2069"`), "batch", "name", 0},
		{"name with private use", rec(`,"name":"Ana \ue000"`), "batch", "name", 0},
		{"vaccinated_at an hour ahead", rec(`,"vaccinated_at":"2021-09-01T13:00:00Z"`), "batch", "vaccinated_at", 0},
		{"vaccinated_at tomorrow", rec(`,"vaccinated_at":"2021-09-02"`), "batch", "vaccinated_at", 0},
		{"vaccinated_at +24:00", rec(`,"vaccinated_at":"2021-08-01T10:00:00+24:00"`), "batch", "vaccinated_at", 0},
		{"vaccinated_at -13:00", rec(`,"vaccinated_at":"2021-08-01T10:00:00-13:00"`), "batch", "vaccinated_at", 0},
		{"synthetic as a string", rec(`,"synthetic":"true"`), "batch", "synthetic", 0},
		{"synthetic as a number", rec(`,"synthetic":1`), "batch", "synthetic", 0},
		{"synthetic in capitals", rec(`,"Synthetic":true`), "batch", "synthetic", 0},
		{"same id twice, first named", "[" + rec(`,"id":"k1"`) + "," + rec(`,"id":"k2"`) + "," + rec(`,"id":"k1"`) + "]", "batch", "id", 0},
		{"same id twice, second named", "[" + rec(`,"id":"k1"`) + "," + rec(`,"id":"k2"`) + "," + rec(`,"id":"k1"`) + "]", "batch", "id", 2},
		{"same id twice in ndjson", rec(`,"id":"k1"`) + "\n" + rec(`,"id":"k1"`), "batch", "id", 1},
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
		// Issue 16: these were published whole.
		{"Zacarias.Quetzalprivado.Dots.Pruebaunica", "Zacarias Q. D. P."},
		{"Zacarias,Quetzalprivado", "Zacarias Q."},
		{"zacarias_quetzalprivado", "zacarias Q."},
		{"Zacarias\u200bQuetzalprivado", "Zacarias Q."},
		{"Zacarias\u2060Quetzalprivado", "Zacarias Q."},
		{"Zacarias1Quetzalprivado", "Zacarias Q."},
		{"Ana-María O'Brien", "Ana M. O. B."},
		{strings.Repeat("x", 50), strings.Repeat("x", MaxShownLetters)},
		{"A B C D E F G H", "A B. C. D. E. F."},
		{"\u0301\u0301Ana", "Ana"},
		{"José", "José"},
		{"李小龍", "李小龍"},
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

func TestDoubleIDErrorNamesBothIndexes(t *testing.T) {
	rec := func(id string) string {
		return `{"name":"Ana","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1,"id":"` + id + `"}`
	}
	_, err := newDecoder().Decode([]byte("[" + rec("a") + "," + rec("b") + "," + rec("a") + "]"))
	var be *BatchError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want *BatchError", err)
	}
	var idx []int
	for _, f := range be.Errors {
		if f.Field == "id" {
			idx = append(idx, f.Index)
		}
	}
	if len(idx) != 2 || idx[0] != 0 || idx[1] != 2 {
		t.Fatalf("id errors at %v, want [0 2]: %+v", idx, be.Errors)
	}
}

func TestWholeNumbers(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"19", 19, true}, {"19.0", 19, true}, {"1.9e1", 19, true}, {"190e-1", 19, true}, {"-0", 0, true},
		{"0.0", 0, true}, {"1.0000000000000001", 0, false}, {"1.5", 0, false}, {"1e-1", 0, false},
		{"-3", -3, true}, {"1e300", math.MaxInt64, true}, {"-1e300", -math.MaxInt64, true},
		{"1e99999999999999999999", math.MaxInt64, true}, {`"1"`, 0, false}, {"true", 0, false},
	} {
		got, ok := integer([]byte(tt.in))
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("integer(%s) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestJSONSeq(t *testing.T) {
	body := "\x1e" + seedRecord + "\n\x1e" + seedRecord + "\n"
	recs, err := newDecoder().Decode([]byte(body))
	if err != nil || len(recs) != 2 {
		t.Fatalf("RFC 7464 body: %d records, %v", len(recs), err)
	}
}

// FuzzMaskName: whatever the name (separators, scripts, invisible
// characters), the public form shows no run of more than MaxShownLetters
// letters of it, at most MaxInitials initials, and nothing but letters,
// marks, spaces and dots.
func FuzzMaskName(f *testing.F) {
	for _, s := range []string{
		"Duglas Francisco Avila Torres", "Zacarias.Quetzalprivado.Dots.Pruebaunica", "a,b_c", "Ana\u200bLopez\u2060Perez",
		"Ana\u00adLopez", "Ana\u200dLopez", "Ana\u3000Lopez", "Ana\u180eLopez", "Ana\ufeffLopez", "Ana\u034fLopez", "Zalgo\u0301\u0301\u0301\u0301",
		"محمد\u200cعلی", "王小明李", "Αλέξανδρος·Παπαδόπουλος", "Дмитрий/Петров", "a1b2c3", strings.Repeat("ñ", 300),
		"\U0001F600Ana\U0001F600Lopez", "O'Brien-Smith", "", "\xff\xfeAna\xffLopez",
		strings.Repeat("Zacariasquetzal.", 4) + strings.Repeat("\u0301", 30),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		out := MaskName(name)
		run, initials := 0, 0
		for i, r := range []rune(out) {
			switch {
			case unicode.IsLetter(r) || unicode.Is(unicode.M, r):
				run++
				if run > MaxShownLetters {
					t.Fatalf("MaskName(%q) = %q: a run of more than %d letters survives", name, out, MaxShownLetters)
				}
			case r == ' ' || r == '.':
				if r == '.' {
					initials++
				}
				run = 0
			default:
				t.Fatalf("MaskName(%q) = %q: rune %d is %U", name, out, i, r)
			}
		}
		if initials > MaxInitials {
			t.Fatalf("MaskName(%q) = %q: %d initials", name, out, initials)
		}
		// No run of more than N = MaxShownLetters+MaxInitials letters of
		// the input, however its parts were joined, survives: compare the
		// letters alone, case folded.
		const n = MaxShownLetters + MaxInitials
		in, pub := lettersOf(name), lettersOf(out)
		if len(pub) > n {
			t.Fatalf("MaskName(%q) = %q: %d letters", name, out, len(pub))
		}
		for i := 0; i+n+1 <= len(in); i++ {
			if w := string(in[i : i+n+1]); strings.Contains(string(pub), w) {
				t.Fatalf("MaskName(%q) = %q holds %q", name, out, w)
			}
		}
	})
}

func lettersOf(s string) []rune {
	var out []rune
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.Is(unicode.M, r) {
			out = append(out, r)
		}
	}
	return out
}

func TestDecodeClientNamesClientIDs(t *testing.T) {
	body := "[" + seedRecord + `,{"id":"c-1","name":"Ana","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1}]`
	recs, idx, err := newDecoder().DecodeClient([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != 1 || idx[0] != 1 || recs[1].ID != "c-1" || recs[0].ID == "" {
		t.Fatalf("client ids at %v (ids %q, %q), want [1]", idx, recs[0].ID, recs[1].ID)
	}
}

func TestKeyChecksSeeOnlyTheRecordsOwnKeys(t *testing.T) {
	d := newDecoder()
	ok := []string{
		// Nested objects and arrays under other keys may repeat names.
		`{"name":"Ana","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1,"extra":{"age":1,"AGE":2},"list":[{"age":3},{"age":4}]}`,
		`[{"name":"Ana","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1,"x":"\"age\":"},{"name":"Eva","location":"Petén","age":31,"vaccine_type":"Moderna","n_dose":1}]`,
	}
	for _, body := range ok {
		if _, err := d.Decode([]byte(body)); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
	// An escaped key is the key it spells.
	_, err := d.Decode([]byte(`{"name":"Ana","location":"Petén","age":30,"\u0061ge":31,"vaccine_type":"Moderna","n_dose":1}`))
	var be *BatchError
	if !errors.As(err, &be) || be.Errors[0].Field != "age" {
		t.Fatalf("escaped duplicate key: %v", err)
	}
	// The second record's duplicate is named at index 1.
	_, err = d.Decode([]byte(`[{"name":"Ana","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1},{"name":"Eva","name":"Eve","location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1}]`))
	if !errors.As(err, &be) || be.Errors[0].Field != "name" || be.Errors[0].Index != 1 {
		t.Fatalf("duplicate in the second record: %v", err)
	}
}

func TestSyntheticFlag(t *testing.T) {
	d := &Decoder{Catalog: catalog.Default()}
	base := `{"id":"smoke-1","name":"Prueba De Humo","location":"Guatemala","age":40,"vaccine_type":"Moderna","n_dose":1`
	for _, tt := range []struct {
		body string
		want bool
	}{
		{base + `}`, false},
		{base + `,"synthetic":false}`, false},
		{base + `,"synthetic":null}`, false},
		{base + `,"synthetic":true}`, true},
	} {
		recs, err := d.Decode([]byte(tt.body))
		if err != nil || len(recs) != 1 || recs[0].Synthetic != tt.want {
			t.Fatalf("%s: %+v, %v; want synthetic=%v", tt.body, recs, err, tt.want)
		}
		back, err := FromProto(recs[0].ToProto(), catalog.Default())
		if err != nil || back.Synthetic != tt.want {
			t.Fatalf("%s: over the wire synthetic=%v, %v", tt.body, back.Synthetic, err)
		}
	}
}

// str's shortcut returns what json.Unmarshal does for every string token:
// escapes, non-ASCII, invalid UTF-8 (each bad byte becomes U+FFFD), lone
// surrogates; non-strings are refused.
func FuzzStr(f *testing.F) {
	for _, s := range []string{`"Petén"`, `"a\"b"`, `"\u00e9\n"`, `"\ud800"`, "\"bad\xff\xfe\"", `""`, `"ok"`,
		`"<&>"`, `"\/"`, "\"\u2028\"", `17`, `null`, `"😀"`, "\"\xed\xa0\x80\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		raw := []byte(token)
		if !json.Valid(raw) {
			t.Skip()
		}
		got, ok := str(raw)
		var want string
		wantOK := len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &want) == nil
		if ok != wantOK || got != want {
			t.Fatalf("str(%q) = %q, %v; json.Unmarshal gives %q, %v", token, got, ok, want, wantOK)
		}
	})
}
