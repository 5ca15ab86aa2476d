package rollout

import (
	"math"
	"strings"
	"testing"
	"time"
)

// hist makes a handoff/lag histogram with n observations all at or below le.
func hist(le float64, n float64) Histogram {
	return Histogram{{le, n}, {math.Inf(1), n}}
}

func TestJudge(t *testing.T) {
	th := Thresholds{MinSuccess: 99, MaxP99: 500 * time.Millisecond, MinRecords: 20}
	withLag := th
	withLag.MaxLag = 2 * time.Second
	tests := []struct {
		name    string
		o       Observation
		th      Thresholds
		verdict string
		reason  []string
	}{
		{"healthy", Observation{Accepted: 100, Handoff: hist(0.01, 100)}, th, Pass, []string{"success 100.00% of 100 records", "handoff p99"}},
		{"exactly at the success bar", Observation{Accepted: 99, Failed: 1, Handoff: hist(0.01, 99)}, th, Pass, nil},
		{"errors", Observation{Accepted: 70, Failed: 30, Handoff: hist(0.01, 70)}, th, Fail, []string{"success 70.00% < 99%", "30 of 100 records failed"}},
		{"slow", Observation{Accepted: 100, Handoff: hist(1, 100)}, th, Fail, []string{"handoff p99", "> 500ms"}},
		{"slow beyond the last bucket", Observation{Accepted: 100, Handoff: Histogram{{10, 0}, {math.Inf(1), 100}}}, th, Fail, []string{"> 500ms"}},
		{"errors and slow", Observation{Accepted: 50, Failed: 50, Handoff: hist(2.5, 50)}, th, Fail, []string{"success 50.00%", "handoff p99"}},
		{"every record failed", Observation{Failed: 40}, th, Fail, []string{"success 0.00%"}},
		{"no traffic", Observation{}, th, Inconclusive, []string{"only 0 records", "need 20", "not a pass"}},
		{"too little traffic, even if all failed", Observation{Failed: 5}, th, Inconclusive, []string{"only 5 records", "success 0.00%"}},
		{"too little traffic, even if healthy", Observation{Accepted: 19, Handoff: hist(0.01, 19)}, th, Inconclusive, []string{"only 19 records"}},
		{"lag judged", Observation{Accepted: 100, Handoff: hist(0.01, 100), Lag: hist(0.25, 100)}, withLag, Pass, []string{"store lag p99"}},
		{"lag too high", Observation{Accepted: 100, Handoff: hist(0.01, 100), Lag: hist(5, 100)}, withLag, Fail, []string{"store lag p99", "> 2s"}},
		{"lag asked for but not observed", Observation{Accepted: 100, Handoff: hist(0.01, 100)}, withLag, Inconclusive, []string{"no store-lag observations"}},
		{"lag shown but not judged without --max-lag", Observation{Accepted: 100, Handoff: hist(0.01, 100), Lag: hist(50, 100)}, th, Pass, []string{"store lag p99"}},
	}
	for _, tt := range tests {
		tt.o.Route = "pubsub"
		c := Judge(tt.o, tt.th, 25)
		if c.Verdict != tt.verdict {
			t.Errorf("%s: verdict %s (%s), want %s", tt.name, c.Verdict, c.Reason, tt.verdict)
			continue
		}
		for _, want := range tt.reason {
			if !strings.Contains(c.Reason, want) {
				t.Errorf("%s: reason %q lacks %q", tt.name, c.Reason, want)
			}
		}
		if c.Step != 25 || c.Records != int64(tt.o.Accepted+tt.o.Failed) {
			t.Errorf("%s: step %d records %d", tt.name, c.Step, c.Records)
		}
	}
}

func TestJudgeFillsTheNumbers(t *testing.T) {
	c := Judge(Observation{Route: "grpc", Accepted: 198, Failed: 2, Handoff: Histogram{{0.01, 100}, {0.02, 198}, {math.Inf(1), 198}}, Lag: hist(0.1, 198)}, Thresholds{MinSuccess: 99, MaxP99: time.Second, MinRecords: 1}, 50)
	if c.SuccessPct == nil || *c.SuccessPct != 99 {
		t.Errorf("success_pct = %v, want 99", c.SuccessPct)
	}
	if c.P99Ms == nil || math.Abs(*c.P99Ms-19.8) > 0.01 {
		t.Errorf("p99_ms = %v, want 19.8", c.P99Ms)
	}
	if c.LagP99Ms == nil || math.Abs(*c.LagP99Ms-99) > 0.01 {
		t.Errorf("lag_p99_ms = %v, want 99", c.LagP99Ms)
	}
	none := Judge(Observation{Route: "grpc"}, Thresholds{MinRecords: 1}, 5)
	if none.SuccessPct != nil || none.P99Ms != nil || none.LagP99Ms != nil {
		t.Errorf("no data, yet numbers: %+v", none)
	}
}
