package rollout

import (
	"fmt"
	"strings"
	"time"
)

// Thresholds decide whether a route is healthy over one interval.
type Thresholds struct {
	MinSuccess float64       // percent of the route's records it must take, e.g. 99
	MaxP99     time.Duration // p99 from the request to the route's durable handoff
	MaxLag     time.Duration // p99 from acceptance to MongoDB; 0: not judged
	MinRecords int           // fewer records on the route in an interval: inconclusive
}

// Verdicts of one check.
const (
	Pass         = "pass"
	Fail         = "fail"
	Inconclusive = "inconclusive"
)

// Check is the judgement of one interval at one step.
type Check struct {
	Step       int      `json:"step"` // the route's percentage at this step
	SuccessPct *float64 `json:"success_pct"`
	P99Ms      *float64 `json:"p99_ms"`
	LagP99Ms   *float64 `json:"lag_p99_ms"`
	Records    int64    `json:"records"` // the route's records (taken + failed) in the interval
	Verdict    string   `json:"verdict"` // pass, fail, inconclusive
	Reason     string   `json:"reason"`
}

func ptr(f float64) *float64 { return &f }

func ms(d time.Duration) string { return fmtSeconds(d.Seconds()) }

// fmtSeconds renders seconds briefly: 12ms, 1.2s.
func fmtSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(10 * time.Microsecond).String()
	}
}

// Judge checks an observation against the thresholds. Too few records on
// the route make the check inconclusive whatever they showed (a handful of
// requests proves nothing either way); otherwise any failed criterion fails
// it, and missing data (no store-lag observations while --max-lag is set)
// makes it inconclusive, never a pass.
func Judge(o Observation, th Thresholds, step int) Check {
	c := Check{Step: step}
	n := o.Accepted + o.Failed
	c.Records = int64(n)
	var fails, unknown, oks []string
	if n > 0 {
		pct := 100 * o.Accepted / n
		c.SuccessPct = ptr(pct)
		if pct < th.MinSuccess {
			why := "the ingest failed them over"
			if !isIngestRoute(o.Route) {
				why = "the track's pods could not store them" // --by track
			}
			fails = append(fails, fmt.Sprintf("success %.2f%% < %g%% (%d of %d records failed on %s; %s)", pct, th.MinSuccess, int64(o.Failed), int64(n), o.Route, why))
		} else {
			oks = append(oks, fmt.Sprintf("success %.2f%% of %d records", pct, int64(n)))
		}
	}
	if p, ok := o.Handoff.Quantile(0.99); ok {
		c.P99Ms = ptr(p * 1000)
		if th.MaxP99 > 0 && p > th.MaxP99.Seconds() {
			fails = append(fails, fmt.Sprintf("handoff p99 %s > %s", fmtSeconds(p), ms(th.MaxP99)))
		} else {
			oks = append(oks, "handoff p99 "+fmtSeconds(p))
		}
	}
	if p, ok := o.Lag.Quantile(0.99); ok {
		c.LagP99Ms = ptr(p * 1000)
		if th.MaxLag > 0 && p > th.MaxLag.Seconds() {
			fails = append(fails, fmt.Sprintf("store lag p99 %s > %s", fmtSeconds(p), ms(th.MaxLag)))
		} else {
			oks = append(oks, "store lag p99 "+fmtSeconds(p))
		}
	} else if th.MaxLag > 0 && o.Accepted > 0 {
		unknown = append(unknown, fmt.Sprintf("no store-lag observations for %s (is the /metrics of the process running the sink among --metrics?)", o.Route))
	}
	switch {
	case int(n) < th.MinRecords:
		c.Verdict = Inconclusive
		c.Reason = fmt.Sprintf("only %d records on %s in %s, need %d (--min-records): too little traffic to judge, not a pass", int64(n), o.Route, o.Window.Round(100*time.Millisecond), th.MinRecords)
		if seen := append(fails, oks...); len(seen) > 0 {
			c.Reason += " (seen: " + strings.Join(seen, "; ") + ")"
		}
	case len(fails) > 0:
		c.Verdict, c.Reason = Fail, strings.Join(fails, "; ")
	case len(unknown) > 0:
		c.Verdict, c.Reason = Inconclusive, strings.Join(unknown, "; ")
	default:
		c.Verdict, c.Reason = Pass, strings.Join(oks, ", ")
	}
	return c
}

func isIngestRoute(name string) bool {
	switch name {
	case "grpc", "redis", "pubsub":
		return true
	}
	return false
}
