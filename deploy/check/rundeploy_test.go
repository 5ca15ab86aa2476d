package check

import (
	"strings"
	"testing"
)

func TestCloudBuildDeploysTheAppContainer(t *testing.T) {
	cs := RunContainers(loadInfra(t))
	for _, svc := range []string{"ingest", "realtime"} {
		if len(cs[svc]) < 2 {
			t.Errorf("Cloud Run %s has containers %v; want the app and the Prometheus collector", svc, cs[svc])
		}
	}
	for _, p := range CheckRunDeployContainers(loadCloudBuild(t), cs) {
		t.Error(p)
	}
}

func TestRunDeployContainersCatchesAMissingContainerFlag(t *testing.T) {
	cs := map[string][]string{"ingest": {"ingest", "collector"}}
	good := "steps:\n- id: d\n  name: gcr.io/x/y:1\n  entrypoint: gcloud\n  args: [run, deploy, ingest, --region=r, --container=ingest, --image=example.org/a:v1, --args=ingest]\n"
	b, err := ParseCloudBuild([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if p := CheckRunDeployContainers(b, cs); len(p) != 0 {
		t.Fatalf("good step flagged: %v", p)
	}
	for name, c := range map[string]struct{ from, to, want string }{
		"the old form: no --container": {"--container=ingest, ", "", "--image before any --container"},
		"unknown container":            {"--container=ingest", "--container=app", "--container=app is not a container"},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := ParseCloudBuild([]byte(strings.Replace(good, c.from, c.to, 1)))
			if err != nil {
				t.Fatal(err)
			}
			if p := CheckRunDeployContainers(b, cs); !containsSubstring(p, c.want) {
				t.Errorf("problems %q do not mention %q", p, c.want)
			}
		})
	}
}
