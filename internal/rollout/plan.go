package rollout

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vacunometro/vacunometro/internal/split"
)

// ParseSteps reads "5,25,50,100": strictly increasing percentages, 1 to 100.
func ParseSteps(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(part), "%"))
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 || n > 100 {
			return nil, fmt.Errorf("steps: %q is not a percentage from 1 to 100", part)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("steps: %d after %d: want increasing percentages, e.g. 5,25,50,100", n, out[len(out)-1])
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("steps: none given: want e.g. 5,25,50,100")
	}
	return out, nil
}

// Share is route's percentage of start (rounded down).
func Share(w split.Weights, route string) int {
	t := w.Total()
	if t == 0 {
		return 0
	}
	return w[route] * 100 / t
}

// StepWeights gives route pct percent and shares the rest among the other
// routes in proportion to their weights in start (largest remainder, so the
// weights add up to exactly 100; ties go to the route first by name).
func StepWeights(start split.Weights, route string, pct int) (split.Weights, error) {
	if _, ok := start[route]; !ok {
		return nil, fmt.Errorf("route %q is not in the split (%s)", route, start)
	}
	if pct < 0 || pct > 100 {
		return nil, fmt.Errorf("percentage %d out of 0-100", pct)
	}
	var others []string
	otherTotal := 0
	for n, v := range start {
		if n != route {
			others = append(others, n)
			otherTotal += v
		}
	}
	sort.Strings(others)
	out := split.Weights{route: pct}
	rest := 100 - pct
	if rest > 0 && otherTotal == 0 {
		return nil, fmt.Errorf("no other route has weight to take the remaining %d%%", rest)
	}
	type rem struct {
		name string
		frac int // remainder numerator
	}
	var rems []rem
	given := 0
	for _, n := range others {
		if otherTotal == 0 {
			out[n] = 0
			continue
		}
		q := rest * start[n] / otherTotal
		out[n] = q
		given += q
		rems = append(rems, rem{n, rest * start[n] % otherTotal})
	}
	sort.SliceStable(rems, func(i, j int) bool { return rems[i].frac > rems[j].frac })
	for i := 0; given < rest; i++ {
		out[rems[i].name]++
		given++
	}
	return out, nil
}

// Step is one stage of a plan.
type Step struct {
	Percent int           // the route's percentage
	Weights split.Weights // the whole split at this step
	Analyze bool          // judged over intervals before the next step; false for a final promotion
}

// Plan is the way from the starting weights to the route at 100%.
type Plan struct {
	Route   string
	Start   split.Weights
	Steps   []Step
	Skipped []int // steps at or below the route's share at the start
}

// NewPlan lays out the steps toward route. Steps at or below the route's
// current share are skipped (a rollout never takes traffic away from the
// route it promotes); when the last step is below 100 the plan ends with a
// promotion to 100% that is not judged (as Flagger and Argo Rollouts do).
func NewPlan(start split.Weights, route string, steps []int) (*Plan, error) {
	if _, ok := start[route]; !ok {
		return nil, fmt.Errorf("route %q is not in the split %s", route, start)
	}
	if start.Total() == 0 {
		return nil, fmt.Errorf("the split %s has no weight", start)
	}
	p := &Plan{Route: route, Start: start.Clone()}
	cur := Share(start, route)
	if start[route] == start.Total() {
		return p, nil // already all of it: nothing to do
	}
	for _, s := range steps {
		if s <= cur && s < 100 {
			p.Skipped = append(p.Skipped, s)
			continue
		}
		w, err := StepWeights(start, route, s)
		if err != nil {
			return nil, err
		}
		p.Steps = append(p.Steps, Step{Percent: s, Weights: w, Analyze: true})
	}
	if len(p.Steps) == 0 || p.Steps[len(p.Steps)-1].Percent < 100 {
		w, _ := StepWeights(start, route, 100)
		p.Steps = append(p.Steps, Step{Percent: 100, Weights: w, Analyze: len(p.Steps) == 0})
	}
	return p, nil
}

// Final is the split once the route is promoted.
func (p *Plan) Final() split.Weights {
	if len(p.Steps) == 0 {
		return p.Start.Clone()
	}
	return p.Steps[len(p.Steps)-1].Weights
}
