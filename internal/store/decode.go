package store

import (
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// decodeStored reads one stored document the way cur.Decode(&doc) does, in
// one pass over its bytes and without reflection: a full rebuild decodes
// every record ever stored, and the reflective decoder was most of the
// rebuild's own CPU. Unknown fields are skipped (as the reflective decoder
// does); a known field of the wrong type is an error.
func decodeStored(raw bson.Raw) (Stored, error) {
	var st Stored
	length, rem, ok := bsoncore.ReadLength(raw)
	if !ok || int(length) > len(raw) || length < 5 {
		return st, fmt.Errorf("store: decode: malformed document (%d bytes)", len(raw))
	}
	rem = rem[:length-4-1] // the elements, without the trailing NUL
	r := &st.Record
	for len(rem) > 0 {
		el, next, ok := bsoncore.ReadElement(rem)
		if !ok {
			return st, fmt.Errorf("store: decode: malformed element")
		}
		rem = next
		key := el.KeyBytes()
		v := el.Value()
		var bad bool
		switch string(key) {
		case "_id":
			r.ID, bad = str(v)
		case "name":
			r.Name, bad = str(v)
		case "department_code":
			r.DepartmentCode, bad = str(v)
		case "department":
			r.Department, bad = str(v)
		case "vaccine":
			r.Vaccine, bad = str(v)
		case "route":
			r.Route, bad = str(v)
		case "b":
			st.Batch, bad = str(v)
		case "p":
			r.Producer, bad = str(v)
		case "age":
			r.Age, bad = integer(v)
		case "dose":
			r.Dose, bad = integer(v)
		case "vaccinated_at":
			r.VaccinatedAt, bad = date(v)
		case "received_at":
			r.ReceivedAt, bad = date(v)
		case "syn":
			r.Synthetic, bad = boolean(v)
		}
		if bad {
			return st, fmt.Errorf("store: decode: field %q: unexpected BSON type %s", key, v.Type)
		}
	}
	return st, nil
}

// str, integer, boolean and date read one field's value; the bool is true
// when its type is not the field's (null reads as the zero value, as the
// reflective decoder reads it).
func str(v bsoncore.Value) (string, bool) {
	if v.Type == bsoncore.TypeNull {
		return "", false
	}
	s, ok := v.StringValueOK()
	return s, !ok
}

func integer(v bsoncore.Value) (int, bool) {
	switch v.Type {
	case bsoncore.TypeNull:
		return 0, false
	case bsoncore.TypeInt32, bsoncore.TypeInt64:
		n, ok := v.AsInt64OK()
		return int(n), !ok
	case bsoncore.TypeDouble:
		f, _ := v.DoubleOK()
		if f != float64(int64(f)) {
			return 0, true
		}
		return int(f), false
	}
	return 0, true
}

func boolean(v bsoncore.Value) (bool, bool) {
	if v.Type == bsoncore.TypeNull {
		return false, false
	}
	b, ok := v.BooleanOK()
	return b, !ok
}

func date(v bsoncore.Value) (time.Time, bool) {
	if v.Type == bsoncore.TypeNull {
		return time.Time{}, false
	}
	ms, ok := v.DateTimeOK()
	if !ok {
		return time.Time{}, true
	}
	return time.UnixMilli(ms).UTC(), false
}
