package check

import (
	"regexp"
	"strings"
	"testing"
)

// docs/deploy.md walks from an empty project to the dashboard on a custom domain: it must contain
// each step's command, its shell blocks must parse, and the Secret it creates must carry exactly
// the keys the manifests read.
func TestDeployDocs(t *testing.T) {
	doc := readRepoFile(t, "docs/deploy.md")
	for _, want := range []string{
		"terraform init", "terraform apply", "gcloud secrets versions add",
		"gcloud builds submit", "--config cloudbuild.yaml",
		"gcloud run deploy", "--no-traffic", "--tag=", "gcloud run services update-traffic", "--to-tags=",
		"linkerd install --crds", "linkerd install |", "linkerd check",
		"kubectl apply -k", "domain_dns_records", "locust -f loadtest/locustfile.py --headless",
		"## Rollback", "## Who owns what", "ignore_changes", "appendfsync always", `append_fsync = "ALWAYS"`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/deploy.md does not contain %q", want)
		}
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) < 10 {
		t.Errorf("only %d sh blocks", len(blocks))
	}
	for i, b := range blocks {
		if err := BashSyntax(b[1]); err != nil {
			t.Errorf("sh block %d: %v\n%s", i, err, b[1])
		}
	}
	for _, keys := range ExternalSecrets {
		for _, k := range keys {
			if !strings.Contains(doc, "--from-literal="+k+"=") {
				t.Errorf("docs/deploy.md does not put %s in the Secret", k)
			}
		}
	}
}

func TestBashSyntaxCatchesBrokenScripts(t *testing.T) {
	for _, bad := range []string{"if true; then echo\n", "for x in a b; do echo $x\n", "echo \"unterminated\n"} {
		if err := BashSyntax(bad); err == nil {
			t.Errorf("bash -n accepted %q", bad)
		}
	}
	if err := BashSyntax("for x in a b; do echo \"$x\"; done\n"); err != nil {
		t.Errorf("good script rejected: %v", err)
	}
}
