// Package rollout provides progressive delivery for vacunometro's routes:
// it moves the split toward one route step by step, judges the route at
// each step by its own metrics (success rate, p99 handoff latency, p99 store
// lag) scraped from Prometheus-format endpoints, and either promotes it to
// 100% or rolls the split back to where it started, saying why. The same
// plan and analysis drive every backend: the ingest's in-process split
// (Local), Cloud Run revision traffic (CloudRun) and a GKE HTTPRoute (GKE).
package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/vacunometro/vacunometro/internal/split"
)

// Config is one rollout.
type Config struct {
	Route           string
	Steps           []int
	Interval        time.Duration // one check per interval
	MaxFailures     int           // roll back at this many failed checks (in the whole rollout)
	MaxInconclusive int           // roll back at this many inconclusive checks in a row at one step
	Thresholds      Thresholds
	Backend         Backend
	Metrics         MetricsSource
	Publisher       Publisher // may be nil
	Out             io.Writer // one line per decision
	Log             *slog.Logger
}

// MetricsSource gives the cumulative snapshots a rollout compares: a Scraper
// of /metrics endpoints, or a PromQuery against a Prometheus HTTP API (GKE and
// Cloud Run, through Managed Service for Prometheus).
type MetricsSource interface {
	Scrape(ctx context.Context) (*Snapshot, error)
	Describe() string
}

// Result is how a rollout ended.
type Result struct {
	Verdict string
	Reason  string
	Weights split.Weights // where the split is (as far as known)
	Checks  []Check
}

// ErrInterrupted is returned when a rollout stopped before a verdict.
var ErrInterrupted = errors.New("rollout interrupted")

type runner struct {
	cfg   Config
	plan  *Plan
	state State
	start time.Time
}

// say prints line for the person running the rollout and logs event
// with attrs (structured, for the logs).
func (r *runner) say(level slog.Level, event, line string, attrs ...any) {
	fmt.Fprintf(r.cfg.Out, "%s %s\n", time.Now().Format("15:04:05"), line)
	if r.cfg.Log != nil {
		r.cfg.Log.Log(context.Background(), level, event, append([]any{"route", r.cfg.Route}, attrs...)...)
	}
}

func (r *runner) publish(ctx context.Context) {
	if r.cfg.Publisher == nil {
		return
	}
	r.state.UpdatedAt = time.Now().UTC()
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := r.cfg.Publisher.Publish(pctx, &r.state); err != nil && r.cfg.Log != nil {
		r.cfg.Log.Warn("rollout: state not published", "err", err)
	}
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// Prepare reads the current split and lays out the plan.
func Prepare(ctx context.Context, b Backend, route string, steps []int) (*Plan, error) {
	start, err := b.Get(ctx)
	if err != nil {
		return nil, err
	}
	return NewPlan(start, route, steps)
}

// PrintPlan prints the steps and, for each, the command that sets it, and
// changes nothing (--dry-run, and the cloud backends without --apply).
func PrintPlan(w io.Writer, b Backend, p *Plan) {
	fmt.Fprintf(w, "plan for %s on %s, from %s:\n", p.Route, b.Describe(), Format(p.Start))
	if len(p.Skipped) > 0 {
		fmt.Fprintf(w, "  skipped steps %s: %s already has %d%%\n", joinInts(p.Skipped), p.Route, Share(p.Start, p.Route))
	}
	if len(p.Steps) == 0 {
		fmt.Fprintf(w, "  nothing to do: %s already takes all the traffic\n", p.Route)
		return
	}
	for i, s := range p.Steps {
		what := "then judged over intervals"
		if !s.Analyze {
			what = "promotion, after the last judged step passed"
		}
		fmt.Fprintf(w, "  step %d/%d: %s %d%%: %s (%s)\n      %s\n", i+1, len(p.Steps), p.Route, s.Percent, Format(s.Weights), what, b.Command(s.Weights))
	}
	fmt.Fprintf(w, "  on rollback: %s\n      %s\n", Format(p.Start), b.Command(p.Start))
}

// Run carries out the plan: step, judge, and promote or roll back. It
// returns an error only when the rollout did not reach a verdict (it could
// not start, or was interrupted: see the Result for where the split is);
// a rollback is a Result with Verdict RolledBack.
func Run(ctx context.Context, cfg Config, p *Plan) (*Result, error) {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	r := &runner{cfg: cfg, plan: p, start: time.Now()}
	r.state = State{
		Route: cfg.Route, Steps: cfg.Steps, Step: Share(p.Start, cfg.Route), Weights: p.Start.Clone(), Checks: []Check{},
		Verdict: Running, From: p.Start.Clone(), Backend: cfg.Backend.Describe(), MaxFailures: cfg.MaxFailures,
		StartedAt: r.start.UTC(),
	}
	lag := ""
	if cfg.Thresholds.MaxLag > 0 {
		lag = ", store lag p99 ≤ " + ms(cfg.Thresholds.MaxLag)
	}
	r.say(slog.LevelInfo, "rollout started", fmt.Sprintf("rollout of %s on %s: from %s, steps %s, every %s: success ≥ %g%%, handoff p99 ≤ %s%s, ≥ %d records; roll back at %d failed checks",
		cfg.Route, cfg.Backend.Describe(), Format(p.Start), joinInts(cfg.Steps), cfg.Interval, cfg.Thresholds.MinSuccess, ms(cfg.Thresholds.MaxP99), lag,
		cfg.Thresholds.MinRecords, cfg.MaxFailures),
		"backend", cfg.Backend.Describe(), "from", Format(p.Start), "steps", joinInts(cfg.Steps), "interval", cfg.Interval,
		"min_success", cfg.Thresholds.MinSuccess, "max_p99", cfg.Thresholds.MaxP99, "max_lag", cfg.Thresholds.MaxLag,
		"min_records", cfg.Thresholds.MinRecords, "max_failures", cfg.MaxFailures, "metrics", cfg.Metrics.Describe())
	if len(p.Skipped) > 0 {
		r.say(slog.LevelInfo, "rollout steps skipped", fmt.Sprintf("skipping steps %s: %s already has %d%%", joinInts(p.Skipped), cfg.Route, Share(p.Start, cfg.Route)), "skipped", joinInts(p.Skipped))
	}
	if len(p.Steps) == 0 {
		return r.finish(ctx, Promoted, cfg.Route+" already takes all the traffic: nothing to do"), nil
	}
	r.publish(ctx)

	failed := 0
	for i, step := range p.Steps {
		label := fmt.Sprintf("step %d/%d (%s %d%%)", i+1, len(p.Steps), cfg.Route, step.Percent)
		if err := r.unchanged(ctx); err != nil {
			return r.interrupted(ctx, label, nil, err)
		}
		if err := cfg.Backend.Set(ctx, step.Weights); err != nil {
			return r.interrupted(ctx, label, step.Weights, err)
		}
		r.state.Step, r.state.Weights = step.Percent, step.Weights.Clone()
		next := ""
		if step.Analyze {
			next = fmt.Sprintf("; first check at %s", time.Now().Add(cfg.Interval).Format("15:04:05"))
		}
		r.say(slog.LevelInfo, "rollout step set", fmt.Sprintf("%s: split set to %s%s", label, Format(step.Weights), next), "step", step.Percent, "weights", Format(step.Weights))
		r.publish(ctx)
		if !step.Analyze {
			continue
		}
		before, err := cfg.Metrics.Scrape(ctx)
		if ctx.Err() != nil {
			return r.interrupted(ctx, label, nil, ctx.Err())
		}
		inconclusive := 0
		for n := 1; ; n++ {
			t := time.NewTimer(cfg.Interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return r.interrupted(ctx, label, nil, context.Cause(ctx))
			case <-t.C:
			}
			if err := r.unchanged(ctx); err != nil {
				return r.interrupted(ctx, label, nil, err)
			}
			after, aerr := cfg.Metrics.Scrape(ctx)
			if ctx.Err() != nil {
				return r.interrupted(ctx, label, nil, ctx.Err())
			}
			var c Check
			switch {
			case err != nil || aerr != nil:
				c = Check{Step: step.Percent, Verdict: Fail, Reason: "could not read the route's metrics: " + errors.Join(err, aerr).Error()}
			default:
				c = Judge(Observe(before, after, cfg.Route), cfg.Thresholds, step.Percent)
			}
			before, err = after, aerr
			r.state.Checks = append(r.state.Checks, c)
			level := slog.LevelInfo
			budget := ""
			switch c.Verdict {
			case Fail:
				failed++
				inconclusive = 0
				r.state.FailedChecks = failed
				level = slog.LevelWarn
				budget = fmt.Sprintf(" [failed checks %d/%d]", failed, cfg.MaxFailures)
			case Inconclusive:
				inconclusive++
				level = slog.LevelWarn
				budget = fmt.Sprintf(" [inconclusive %d/%d in a row]", inconclusive, cfg.MaxInconclusive)
			}
			r.say(level, "rollout check", fmt.Sprintf("%s check %d: %s: %s%s", label, n, strings.ToUpper(c.Verdict), c.Reason, budget),
				"step", step.Percent, "check", n, "verdict", c.Verdict, "reason", c.Reason, "records", c.Records,
				"success_pct", deref(c.SuccessPct), "p99_ms", deref(c.P99Ms), "lag_p99_ms", deref(c.LagP99Ms), "failed_checks", failed)
			r.publish(ctx)
			switch {
			case c.Verdict == Pass:
				inconclusive = 0
			case c.Verdict == Fail && failed >= cfg.MaxFailures:
				return r.rollback(ctx, label, fmt.Sprintf("%d failed checks (--max-failures %d); last at %s: %s", failed, cfg.MaxFailures, label, c.Reason))
			case c.Verdict == Inconclusive && inconclusive >= cfg.MaxInconclusive:
				short, _, _ := strings.Cut(c.Reason, " (seen:")
				return r.rollback(ctx, label, fmt.Sprintf("%d inconclusive checks in a row at %s (--max-inconclusive %d); last: %s", inconclusive, label, cfg.MaxInconclusive, short))
			default:
				continue
			}
			break
		}
	}
	return r.finish(ctx, Promoted, fmt.Sprintf("%s passed every step (%s) and takes 100%% of the traffic", cfg.Route, joinInts(analyzed(p)))), nil
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func analyzed(p *Plan) []int {
	var out []int
	for _, s := range p.Steps {
		if s.Analyze {
			out = append(out, s.Percent)
		}
	}
	return out
}

func (r *runner) rollback(ctx context.Context, label, reason string) (*Result, error) {
	r.say(slog.LevelWarn, "rollout rolling back", fmt.Sprintf("rolling back to %s: %s", Format(r.plan.Start), reason), "to", Format(r.plan.Start), "reason", reason)
	if err := r.unchanged(ctx); err != nil {
		return r.interrupted(ctx, "rollback after "+label, nil, fmt.Errorf("%w (the rollback was for: %s)", err, reason))
	}
	if err := r.cfg.Backend.Set(ctx, r.plan.Start); err != nil {
		return r.interrupted(ctx, "rollback after "+label, r.plan.Start, err)
	}
	r.state.Weights = r.plan.Start.Clone()
	r.state.Step = Share(r.plan.Start, r.cfg.Route)
	return r.finish(ctx, RolledBack, reason), nil
}

// ErrChangedElsewhere: the split is not what this rollout last set.
var ErrChangedElsewhere = errors.New("the split was changed by someone else")

// unchanged checks that the split is still what this rollout last set (or
// found): when a person or another tool changed it, the rollout stops
// without touching it rather than overwrite their change.
func (r *runner) unchanged(ctx context.Context) error {
	now, err := r.cfg.Backend.Get(ctx)
	if err != nil {
		return err
	}
	for _, n := range orderedRoutes(mergeKeys(now, r.state.Weights)) {
		if now[n] != r.state.Weights[n] {
			return fmt.Errorf("%w: it is %s, this rollout left it at %s", ErrChangedElsewhere, Format(now), Format(r.state.Weights))
		}
	}
	return nil
}

func mergeKeys(a, b split.Weights) split.Weights {
	m := split.Weights{}
	for k := range a {
		m[k] = 0
	}
	for k := range b {
		m[k] = 0
	}
	return m
}

func (r *runner) finish(ctx context.Context, verdict, reason string) *Result {
	r.state.Verdict, r.state.Reason = verdict, reason
	r.publish(ctx)
	pass, fail, inc := 0, 0, 0
	for _, c := range r.state.Checks {
		switch c.Verdict {
		case Pass:
			pass++
		case Fail:
			fail++
		default:
			inc++
		}
	}
	level := slog.LevelInfo
	if verdict != Promoted {
		level = slog.LevelWarn
	}
	r.say(level, "rollout finished", fmt.Sprintf("%s: %s", strings.ToUpper(strings.ReplaceAll(verdict, "_", " ")), reason), "verdict", verdict, "reason", reason, "weights", Format(r.state.Weights))
	r.say(slog.LevelInfo, "rollout summary", fmt.Sprintf("summary: %s %s in %s; %d checks (%d pass, %d fail, %d inconclusive); the split is %s",
		r.cfg.Route, strings.ReplaceAll(verdict, "_", " "), time.Since(r.start).Round(time.Second), len(r.state.Checks), pass, fail, inc, Format(r.state.Weights)),
		"verdict", verdict, "checks", len(r.state.Checks), "pass", pass, "fail", fail, "inconclusive", inc, "took", time.Since(r.start).Round(time.Millisecond))
	return &Result{Verdict: verdict, Reason: reason, Weights: r.state.Weights.Clone(), Checks: r.state.Checks}
}

// interrupted stops where the split is: nothing more is changed. inFlight
// is the split a change was being made to when it stopped (nil: none). It
// reads the split back to say exactly where it is, and how to finish or
// undo.
func (r *runner) interrupted(ctx context.Context, label string, inFlight split.Weights, cause error) (*Result, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var where string
	now, err := r.cfg.Backend.Get(rctx)
	switch {
	case err == nil:
		r.state.Weights = now
		where = fmt.Sprintf("the split is now %s (read back from %s)", Format(now), r.cfg.Backend.Describe())
	case inFlight != nil:
		where = fmt.Sprintf("the split could not be read back (%v): it is either %s (before the change) or %s (the change being made)", err, Format(r.state.Weights), Format(inFlight))
	default:
		where = fmt.Sprintf("the split could not be read back (%v); the last change this rollout made left it at %s", err, Format(r.state.Weights))
	}
	r.state.Step = Share(r.state.Weights, r.cfg.Route)
	why := "stopped"
	if errors.Is(cause, context.Canceled) || errors.Is(cause, context.DeadlineExceeded) {
		why = "stopped by a signal or deadline"
	} else if cause != nil {
		why = "stopped by an error: " + cause.Error()
	}
	reason := fmt.Sprintf("%s at %s; %s; nothing else was changed", why, label, where)
	msg := fmt.Sprintf("INTERRUPTED: %s\n  to finish (%s at 100%%): %s\n  to undo (the split before the rollout, %s): %s",
		reason, r.cfg.Route, r.cfg.Backend.Command(r.plan.Final()), Format(r.plan.Start), r.cfg.Backend.Command(r.plan.Start))
	r.state.Verdict, r.state.Reason = Interrupted, reason
	r.publish(ctx)
	r.say(slog.LevelError, "rollout interrupted", msg, "reason", reason, "weights", Format(r.state.Weights), "finish", r.cfg.Backend.Command(r.plan.Final()), "undo", r.cfg.Backend.Command(r.plan.Start))
	r.say(slog.LevelInfo, "rollout summary", fmt.Sprintf("summary: %s interrupted after %s; %d checks; the split is %s", r.cfg.Route, time.Since(r.start).Round(time.Second), len(r.state.Checks), Format(r.state.Weights)),
		"verdict", Interrupted, "checks", len(r.state.Checks))
	return &Result{Verdict: Interrupted, Reason: reason, Weights: r.state.Weights.Clone(), Checks: r.state.Checks},
		&interruptedError{reason: reason, cause: cause}
}

// interruptedError is ErrInterrupted and its cause.
type interruptedError struct {
	reason string
	cause  error
}

func (e *interruptedError) Error() string   { return ErrInterrupted.Error() + ": " + e.reason }
func (e *interruptedError) Unwrap() []error { return []error{ErrInterrupted, e.cause} }
