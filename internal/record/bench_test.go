package record

import (
	"strings"
	"testing"
)

// BenchmarkDecode1000 decodes one 1,000-record batch, the load test's shape.
func BenchmarkDecode1000(b *testing.B) {
	body := []byte("[" + strings.TrimSuffix(strings.Repeat(seedRecord+",", 1000), ",") + "]")
	d := newDecoder()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeOne decodes a single-record request, the commonest.
func BenchmarkDecodeOne(b *testing.B) {
	body := []byte(seedRecord)
	d := newDecoder()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}
