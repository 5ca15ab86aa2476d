package check

import (
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/cloudbuild/apiv1/v2/cloudbuildpb"
)

// RunContainers returns, per google_cloud_run_v2_service name (its literal name attribute), the
// names of the containers of its template.
func RunContainers(tf *Terraform) map[string][]string {
	out := map[string][]string{}
	for _, b := range tf.Blocks("resource") {
		if b.Labels[0] != "google_cloud_run_v2_service" {
			continue
		}
		name, ok := literalString(b.Body.Attributes["name"])
		if !ok {
			continue
		}
		tmpl := firstBlock(b.Body, "template")
		if tmpl == nil {
			continue
		}
		var cs []string
		for _, c := range tmpl.Body.Blocks {
			if c.Type == "containers" {
				n, _ := literalString(c.Body.Attributes["name"])
				cs = append(cs, n)
			}
		}
		out[name] = cs
	}
	return out
}

// CheckRunDeployContainers returns `gcloud run deploy` steps that would fail or hit the wrong
// container: on a service with several containers (the app and a sidecar), --image, --args and
// env flags must follow --container=<the app container>
// (https://cloud.google.com/run/docs/deploying#sidecars).
func CheckRunDeployContainers(b *cloudbuildpb.Build, containers map[string][]string) []string {
	var problems []string
	perContainer := []string{"--image=", "--args=", "--update-env-vars=", "--set-env-vars=", "--command="}
	for _, s := range b.GetSteps() {
		args := s.GetArgs()
		if s.GetEntrypoint() != "gcloud" || len(args) < 3 || args[0] != "run" || args[1] != "deploy" {
			continue
		}
		svc := args[2]
		cs := containers[svc]
		if len(cs) < 2 {
			continue
		}
		current := ""
		for _, a := range args[3:] {
			if v, ok := strings.CutPrefix(a, "--container="); ok {
				current = v
				if !slices.Contains(cs, v) {
					problems = append(problems, fmt.Sprintf("step %s: --container=%s is not a container of %s (%v)", s.GetId(), v, svc, cs))
				}
				continue
			}
			for _, p := range perContainer {
				if strings.HasPrefix(a, p) && current == "" {
					problems = append(problems, fmt.Sprintf("step %s: %s before any --container on %s, which has containers %v", s.GetId(), strings.TrimSuffix(p, "="), svc, cs))
				}
			}
		}
	}
	return problems
}
