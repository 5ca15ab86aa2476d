package split

import (
	"math"
	"strings"
	"testing"
)

var known = []string{"grpc", "redis", "pubsub"}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"grpc=34,redis=33,pubsub=33", "grpc=34,pubsub=33,redis=33", ""},
		{" grpc = 1 , redis=0 ", "grpc=1,pubsub=0,redis=0", ""},
		{"redis=100", "grpc=0,pubsub=0,redis=100", ""},
		{"", "", "empty"},
		{"grpc", "", "name=weight"},
		{"grpc=x", "", "whole number"},
		{"grpc=-1", "", "between 0"},
		{"grpc=0,redis=0", "", "positive"},
		{"kafka=10", "", "unknown route"},
		{"grpc=1,grpc=2", "", "twice"},
		{"=5", "", "name=weight"},
		{"grpc=99999999999", "", "between 0"},
	}
	for _, tt := range tests {
		w, err := Parse(tt.in, known)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || w.String() != tt.want {
			t.Errorf("Parse(%q) = %q, %v; want %q", tt.in, w.String(), err, tt.want)
		}
	}
}

func TestParseJSON(t *testing.T) {
	w, err := ParseJSON([]byte(`{"weights":{"grpc":10,"redis":90}}`), known)
	if err != nil || w.String() != "grpc=10,pubsub=0,redis=90" {
		t.Fatalf("got %v, %v", w, err)
	}
	if _, err := ParseJSON([]byte(`{"weights":{"grpc":-3}}`), known); err == nil {
		t.Fatal("negative weight accepted")
	}
	if _, err := ParseJSON([]byte(`[1,2]`), known); err == nil {
		t.Fatal("array accepted")
	}
}

func TestSplitShares(t *testing.T) {
	tests := []Weights{
		{"grpc": 34, "redis": 33, "pubsub": 33},
		{"grpc": 90, "redis": 10, "pubsub": 0},
		{"grpc": 1, "redis": 1, "pubsub": 998},
		{"grpc": 0, "redis": 0, "pubsub": 5},
	}
	for _, w := range tests {
		s := New(w)
		const n = 10000
		got := map[string]int{}
		for i := 0; i < n; i++ {
			got[s.NextN(1)]++
		}
		for name, weight := range w {
			want := float64(weight) / float64(w.Total())
			share := float64(got[name]) / n
			if math.Abs(share-want) > 0.01 {
				t.Errorf("%v: %s share %.4f, want %.4f±0.01", w, name, share, want)
			}
			if weight == 0 && got[name] != 0 {
				t.Errorf("%v: %s has weight 0 but got %d records", w, name, got[name])
			}
		}
	}
}

func TestSplitIsSmooth(t *testing.T) {
	s := New(Weights{"grpc": 5, "redis": 1, "pubsub": 1})
	var seq []string
	for i := 0; i < 7; i++ {
		seq = append(seq, s.NextN(1))
	}
	// nginx's smooth WRR for 5,1,1 never gives more than 2 in a row... and interleaves.
	if got := strings.Join(seq, " "); strings.Count(got, "grpc") != 5 || strings.Contains(got, "grpc grpc grpc grpc") {
		t.Fatalf("sequence not smooth: %s", got)
	}
}

func TestSetTakesEffectForNextRecord(t *testing.T) {
	s := New(Weights{"grpc": 100, "redis": 0, "pubsub": 0})
	for i := 0; i < 10; i++ {
		if r := s.NextN(1); r != "grpc" {
			t.Fatalf("pick %d = %s, want grpc", i, r)
		}
	}
	s.Set(Weights{"grpc": 0, "redis": 100, "pubsub": 0})
	if r := s.NextN(1); r != "redis" {
		t.Fatalf("after Set, pick = %s, want redis", r)
	}
	if got := s.Weights().String(); got != "grpc=0,pubsub=0,redis=100" {
		t.Fatalf("Weights() = %s", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"grpc=34,redis=33,pubsub=33", "grpc=1", "", "a=b=c", "grpc=1,,redis=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := Parse(s, known)
		if err != nil {
			return
		}
		if w.Total() <= 0 {
			t.Fatalf("Parse(%q) accepted weights with total %d", s, w.Total())
		}
		again, err := Parse(w.String(), known)
		if err != nil || again.String() != w.String() {
			t.Fatalf("round trip of %q: %q, %v", s, again.String(), err)
		}
	})
}

func TestSharesHoldByRecordsWithMixedBatchSizes(t *testing.T) {
	w := Weights{"grpc": 34, "redis": 33, "pubsub": 33}
	s := New(w)
	got := map[string]int{}
	sent := 0
	for i := 0; sent < 10000; i++ {
		n := 1 + (i*37)%50
		got[s.NextN(n)] += n
		sent += n
	}
	for name, weight := range w {
		want := float64(weight) / float64(w.Total())
		share := float64(got[name]) / float64(sent)
		if math.Abs(share-want) > 0.01 {
			t.Errorf("%s: share %.4f of records, want %.4f±0.01", name, share, want)
		}
	}
}

func TestSetVersionKeepsTheNewest(t *testing.T) {
	s := New(Weights{"grpc": 1, "redis": 1})
	if !s.SetVersion(Weights{"grpc": 7, "redis": 1}, 5) {
		t.Fatal("version 5 over version 1 not applied")
	}
	if s.SetVersion(Weights{"grpc": 3, "redis": 1}, 4) || s.SetVersion(Weights{"grpc": 3, "redis": 1}, 5) {
		t.Fatal("an older or equal version replaced the newer one")
	}
	if w, v := s.Current(); w["grpc"] != 7 || v != 5 {
		t.Fatalf("holds %v version %d, want grpc=7 version 5", w, v)
	}
}
