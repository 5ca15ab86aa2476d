package rollout

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vacunometro/vacunometro/internal/split"
)

func TestParseSteps(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		err  string
	}{
		{"5,25,50,100", []int{5, 25, 50, 100}, ""},
		{" 10%, 100 ", []int{10, 100}, ""},
		{"50", []int{50}, ""},
		{"", nil, "none given"},
		{"0,50", nil, "from 1 to 100"},
		{"50,101", nil, "from 1 to 100"},
		{"50,25", nil, "increasing"},
		{"25,25", nil, "increasing"},
		{"a", nil, "from 1 to 100"},
	}
	for _, tt := range tests {
		got, err := ParseSteps(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSteps(%q) = %v, %v; want error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseSteps(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestStepWeights(t *testing.T) {
	even := split.Weights{"grpc": 34, "redis": 33, "pubsub": 33}
	tests := []struct {
		start split.Weights
		route string
		pct   int
		want  split.Weights
	}{
		// The others share the rest in proportion to their starting weights.
		{even, "pubsub", 5, split.Weights{"pubsub": 5, "grpc": 48, "redis": 47}},
		{even, "pubsub", 25, split.Weights{"pubsub": 25, "grpc": 38, "redis": 37}},
		{even, "pubsub", 50, split.Weights{"pubsub": 50, "grpc": 25, "redis": 25}}, // 25.4 and 24.6: largest remainder
		{even, "pubsub", 100, split.Weights{"pubsub": 100, "grpc": 0, "redis": 0}},
		{split.Weights{"grpc": 90, "redis": 10, "pubsub": 0}, "pubsub", 20, split.Weights{"pubsub": 20, "grpc": 72, "redis": 8}},
		{split.Weights{"grpc": 3, "redis": 1, "pubsub": 0}, "pubsub", 10, split.Weights{"pubsub": 10, "grpc": 68, "redis": 22}},
		// A route at 0 stays at 0 until promotion.
		{split.Weights{"grpc": 0, "redis": 100, "pubsub": 0}, "pubsub", 25, split.Weights{"pubsub": 25, "grpc": 0, "redis": 75}},
		// Weights that do not add up to 100 become percentages.
		{split.Weights{"grpc": 1, "redis": 1}, "grpc", 5, split.Weights{"grpc": 5, "redis": 95}},
	}
	for _, tt := range tests {
		got, err := StepWeights(tt.start, tt.route, tt.pct)
		if err != nil {
			t.Errorf("StepWeights(%v, %s, %d): %v", tt.start, tt.route, tt.pct, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("StepWeights(%v, %s, %d) = %v, want %v", tt.start, tt.route, tt.pct, got, tt.want)
		}
		if got.Total() != 100 {
			t.Errorf("StepWeights(%v, %s, %d) adds up to %d", tt.start, tt.route, tt.pct, got.Total())
		}
	}
	if _, err := StepWeights(even, "kafka", 5); err == nil {
		t.Error("a route not in the split was accepted")
	}
	if _, err := StepWeights(split.Weights{"grpc": 10, "redis": 0}, "grpc", 50); err == nil {
		t.Error("no other route can take the rest, yet no error")
	}
}

func TestNewPlan(t *testing.T) {
	even := split.Weights{"grpc": 34, "redis": 33, "pubsub": 33}
	p, err := NewPlan(even, "grpc", []int{5, 25, 50, 100})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Skipped, []int{5, 25}) {
		t.Errorf("skipped %v, want 5 and 25 (grpc already has 34%%)", p.Skipped)
	}
	if got := percents(p); !reflect.DeepEqual(got, []string{"50*", "100*"}) {
		t.Errorf("steps %v", got)
	}
	if !reflect.DeepEqual(p.Start, even) || !reflect.DeepEqual(p.Final(), split.Weights{"grpc": 100, "redis": 0, "pubsub": 0}) {
		t.Errorf("start %v final %v", p.Start, p.Final())
	}

	// A last step below 100 ends with an unjudged promotion.
	p, _ = NewPlan(even, "pubsub", []int{40, 60})
	if got := percents(p); !reflect.DeepEqual(got, []string{"40*", "60*", "100"}) {
		t.Errorf("steps %v, want 40 and 60 judged, then promotion", got)
	}
	// Every step below the current share: judged at 100.
	p, _ = NewPlan(split.Weights{"grpc": 60, "redis": 40}, "grpc", []int{5, 25, 50})
	if got := percents(p); !reflect.DeepEqual(got, []string{"100*"}) {
		t.Errorf("steps %v, want one judged step at 100", got)
	}
	// Already all of it.
	p, _ = NewPlan(split.Weights{"grpc": 100, "redis": 0}, "grpc", []int{5, 100})
	if len(p.Steps) != 0 {
		t.Errorf("steps %v for a route that has everything", percents(p))
	}
	if _, err := NewPlan(even, "kafka", []int{100}); err == nil {
		t.Error("unknown route accepted")
	}
}

func percents(p *Plan) []string {
	var out []string
	for _, s := range p.Steps {
		v := split.Weights{"x": s.Percent}.String()[2:]
		if s.Analyze {
			v += "*"
		}
		out = append(out, v)
	}
	return out
}
