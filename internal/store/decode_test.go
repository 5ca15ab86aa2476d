package store

import (
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/vacunometro/vacunometro/internal/record"
)

// decodeStored gives what the driver's reflective decoder gives for every
// shape a stored document takes (optional fields absent, integers of
// either width, documents from before batches and producers existed), and
// refuses a known field of the wrong type.
func TestDecodeStoredMatchesTheReflectiveDecoder(t *testing.T) {
	at := time.Date(2021, 7, 14, 10, 30, 0, 0, time.UTC)
	full := record.Record{ID: "r1", Name: "Ana López", DepartmentCode: "01", Department: "Guatemala", Age: 40,
		Vaccine: "Moderna", Dose: 2, VaccinatedAt: at, ReceivedAt: at.Add(time.Hour), Route: "grpc",
		Synthetic: true, Producer: "sms"}
	// A field added to record.Record must be added here, to doc and to
	// decodeStored: the test fails until "every field" sets it.
	for _, f := range reflect.VisibleFields(reflect.TypeOf(full)) {
		if f.Tag.Get("bson") != "-" && reflect.ValueOf(full).FieldByIndex(f.Index).IsZero() {
			t.Fatalf("the \"every field\" record leaves %s unset", f.Name)
		}
	}
	for _, tc := range []struct {
		name string
		doc  any
	}{
		{"every field", toDoc(full, "batch-1", at.Add(2*time.Hour))},
		{"no optional field", toDoc(record.Record{ID: "r2", DepartmentCode: "16", Department: "Alta Verapaz",
			Age: 71, Vaccine: "Sinovac", Dose: 1, ReceivedAt: at}, "", at)},
		{"int64 and double numbers, unknown field", bson.D{{Key: "_id", Value: "r3"}, {Key: "age", Value: int64(33)},
			{Key: "dose", Value: 3.0}, {Key: "extra", Value: bson.D{{Key: "x", Value: 1}}}, {Key: "b", Value: "b9"}}},
		{"nulls", bson.D{{Key: "_id", Value: "r4"}, {Key: "name", Value: nil}, {Key: "age", Value: nil},
			{Key: "vaccinated_at", Value: nil}, {Key: "syn", Value: nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := bson.Marshal(tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			var d doc
			if err := bson.Unmarshal(raw, &d); err != nil {
				t.Fatal(err)
			}
			want := Stored{Record: record.Record{ID: d.ID, Name: d.Name, DepartmentCode: d.DepartmentCode,
				Department: d.Department, Age: d.Age, Vaccine: d.Vaccine, Dose: d.Dose,
				VaccinatedAt: d.VaccinatedAt.UTC(), ReceivedAt: d.ReceivedAt.UTC(), Route: d.Route,
				Synthetic: d.Synthetic, Producer: d.Producer}, Batch: d.Batch}
			got, err := decodeStored(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decodeStored\n got  %+v\n want %+v", got, want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		doc  bson.D
	}{
		{"id a number", bson.D{{Key: "_id", Value: 7}}},
		{"age a string", bson.D{{Key: "_id", Value: "x"}, {Key: "age", Value: "40"}}},
		{"dose a fraction", bson.D{{Key: "_id", Value: "x"}, {Key: "dose", Value: 1.5}}},
		{"date a string", bson.D{{Key: "_id", Value: "x"}, {Key: "received_at", Value: "2021-07-14"}}},
		{"syn a number", bson.D{{Key: "_id", Value: "x"}, {Key: "syn", Value: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := bson.Marshal(tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodeStored(raw); err == nil {
				t.Fatalf("decodeStored(%v) took it", tc.doc)
			}
		})
	}
	if _, err := decodeStored(bson.Raw{1, 2}); err == nil {
		t.Fatal("decodeStored took 2 bytes")
	}
}

func BenchmarkDecodeStored(b *testing.B) {
	at := time.Date(2021, 7, 14, 10, 30, 0, 0, time.UTC)
	raw, _ := bson.Marshal(toDoc(record.Record{ID: "0c8f3c1e-7d8e-4f0a-9b7e-3d2f1a0b9c8d", Name: "Ana López",
		DepartmentCode: "01", Department: "Guatemala", Age: 40, Vaccine: "Moderna", Dose: 2, VaccinatedAt: at,
		ReceivedAt: at, Route: "grpc", Producer: "sms"}, "batch-1", at))
	b.Run("decodeStored", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeStored(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reflective", func(b *testing.B) {
		for b.Loop() {
			var d doc
			if err := bson.Unmarshal(raw, &d); err != nil {
				b.Fatal(err)
			}
			_ = Stored{Record: record.Record{ID: d.ID, Name: d.Name, DepartmentCode: d.DepartmentCode,
				Department: d.Department, Age: d.Age, Vaccine: d.Vaccine, Dose: d.Dose,
				VaccinatedAt: d.VaccinatedAt.UTC(), ReceivedAt: d.ReceivedAt.UTC(), Route: d.Route,
				Synthetic: d.Synthetic, Producer: d.Producer}, Batch: d.Batch}
		}
	})
}
