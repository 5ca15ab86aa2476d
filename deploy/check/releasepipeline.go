package check

import (
	"fmt"
	"regexp"
	"strings"

	"cloud.google.com/go/cloudbuild/apiv1/v2/cloudbuildpb"
)

// The steps of the judged GKE release in cloudbuild.yaml (docs/deploy.md, "GKE release").
const (
	StepGKECanary  = "gke-canary"  // the canary Deployments get the new image
	StepGKERollout = "gke-rollout" // `vacunometro rollout --backend gke --by track` judges them
	StepGKEApply   = "gke-apply"   // promotion: stable gets the image, the overlay is applied
)

var (
	setImageTarget = regexp.MustCompile(`kubectl\b[^\n]*\bset image "?deployment/([^"\s]+)"?`)
	forList        = regexp.MustCompile(`(?m)for \w+ in ([^;\n]+); do`)
)

// stepScript is a step's bash -c script after substitution.
func stepScript(b *cloudbuildpb.Build, id string) (string, bool) {
	s, ok := StepByID(b, id)
	if !ok {
		return "", false
	}
	subs := Substitutions(b, nil)
	var args []string
	for _, a := range s.GetArgs() {
		args = append(args, Expand(a, subs))
	}
	return shellScript(args)
}

// setImageTargets lists the Deployments a script sets the image of: literal names, or the words of
// the for-loops over $d / $c / a list variable that the command names.
func setImageTargets(script string) []string {
	vars := map[string][]string{}
	for _, line := range strings.Split(script, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && regexp.MustCompile(`^\w+$`).MatchString(k) && strings.HasPrefix(v, `"`) {
			vars["$"+k] = strings.Fields(strings.Trim(v, `"`))
		}
	}
	var loops [][]string
	for _, m := range forList.FindAllStringSubmatch(script, -1) {
		var words []string
		for _, w := range strings.Fields(m[1]) {
			if ws, ok := vars[w]; ok {
				words = append(words, ws...)
			} else {
				words = append(words, w)
			}
		}
		loops = append(loops, words)
	}
	var out []string
	for _, m := range setImageTarget.FindAllStringSubmatchIndex(script, -1) {
		target := script[m[2]:m[3]]
		if !strings.HasPrefix(target, "$") {
			out = append(out, target)
			continue
		}
		// the innermost loop before the command
		before := script[:m[0]]
		idx := forList.FindAllStringIndex(before, -1)
		if len(idx) > 0 {
			out = append(out, loops[len(idx)-1]...)
		}
	}
	return out
}

// CheckGKERelease returns what makes the GKE release reach the stable tier unjudged: the steps
// gke-canary, gke-rollout and gke-apply missing or out of order (push, canary, judgement,
// promotion, then the Cloud Run deploys); gke-canary setting the image of anything but the
// canaries (canaries: the rendered canary Deployments); gke-rollout not running `vacunometro
// rollout --backend gke --apply --by track --to canary --grpcroute grpc-server` with a Prometheus
// API, or not putting the route back to stable and the canaries to 0 when that fails; and
// gke-apply setting the stable image before the judgement.
func CheckGKERelease(b *cloudbuildpb.Build, canaries []string) []string {
	var v []string
	add := func(format string, a ...any) { v = append(v, fmt.Sprintf(format, a...)) }
	for _, id := range []string{StepGKECanary, StepGKERollout, StepGKEApply} {
		if _, ok := StepByID(b, id); !ok {
			add("no step %s: the GKE tier would get the new image unjudged (push -> %s -> %s -> %s)", id, StepGKECanary, StepGKERollout, StepGKEApply)
		}
	}
	if len(v) > 0 {
		return v
	}
	for _, o := range [][2]string{{"push", StepGKECanary}, {StepGKECanary, StepGKERollout}, {StepGKERollout, StepGKEApply}, {StepGKEApply, "deploy-ingest"}} {
		if _, ok := StepByID(b, o[0]); !ok {
			continue
		}
		if _, ok := StepByID(b, o[1]); ok && !StepOrder(b, o[0], o[1]) {
			add("step %s does not wait for %s", o[1], o[0])
		}
	}
	canary, _ := stepScript(b, StepGKECanary)
	targets := setImageTargets(canary)
	for _, t := range targets {
		if !strings.HasSuffix(t, CanarySuffix) {
			add("%s sets the image of %s, which is not a canary: stable would get the release before the judgement", StepGKECanary, t)
		}
	}
	for _, c := range canaries {
		if !strings.Contains(strings.Join(targets, " "), c) {
			add("%s does not give the canary %s the new image", StepGKECanary, c)
		}
	}
	if strings.Contains(canary, "kubectl apply") {
		add("%s runs kubectl apply: the overlay would give every Deployment the new image before the judgement", StepGKECanary)
	}
	rollout, _ := stepScript(b, StepGKERollout)
	for _, want := range []string{"rollout --backend gke", "--apply", "--by track", "--to canary", "--grpcroute grpc-server", "--prometheus ", "--max-lag"} {
		if !strings.Contains(rollout, want) {
			add("%s does not run `vacunometro rollout` with %s", StepGKERollout, strings.TrimSpace(want))
		}
	}
	if !strings.Contains(rollout, `"path":"/spec/rules/0/backendRefs/1/weight","value":0`) || !strings.Contains(rollout, "patch grpcroute grpc-server") {
		add("%s does not put the GRPCRoute back to canary 0 when the rollout fails or is interrupted", StepGKERollout)
	}
	for _, c := range canaries {
		if !regexp.MustCompile(`(?s)for \w+ in [^;\n]*\b` + regexp.QuoteMeta(c) + `\b[^;\n]*; do\s*\n\s*kubectl -n vacunometro scale "deployment/\$\w+" --replicas=0`).MatchString(rollout) {
			add("%s does not scale the canary %s to 0 when the rollout fails", StepGKERollout, c)
		}
	}
	return v
}
