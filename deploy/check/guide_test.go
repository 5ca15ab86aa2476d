package check

import (
	"strings"
	"testing"
)

func TestDeployGuideWorksOnANewProject(t *testing.T) {
	doc := readRepoFile(t, "docs/deploy.md")
	for _, p := range CheckGuideRepeatable(doc) {
		t.Error(p)
	}
	for _, p := range CheckGuideCommands(doc) {
		t.Error(p)
	}
	tf := loadInfra(t)
	if refs := RunSecretRefs(tf); len(refs) < 2 {
		t.Errorf("Cloud Run reads only %v; the check would prove nothing", refs)
	}
	for _, p := range CheckSecretOrder(tf, doc) {
		t.Error(p)
	}
}

// guideSample has the guide's shape after the fixes; each case puts back one old form.
const guideSample = "Run this in Cloud Shell, or add your machine to master_authorized_networks.\n\n```sh\n" +
	"gcloud storage buckets describe gs://b >/dev/null 2>&1 ||\n  gcloud storage buckets create gs://b\n" +
	"[ -f terraform.tfvars ] || cp terraform.tfvars.example terraform.tfvars\n" +
	"terraform apply -var image=x \\\n  -target=google_project_service.apis \\\n  -target=google_secret_manager_secret.admin_token\n" +
	"```\n\n```sh\n" +
	"gcloud secrets versions describe latest --secret=tok >/dev/null 2>&1 ||\n" +
	"  openssl rand -base64 32 | gcloud secrets versions add tok --data-file=-\n" +
	"```\n\n```sh\n" +
	"if ! gcloud artifacts docker images describe \"$IMAGE\" >/dev/null 2>&1; then\n" +
	"  gcloud builds submit --tag \"$IMAGE\" --service-account=\"$DEPLOYER\" \\\n    --gcs-log-dir=gs://b/logs .\n" +
	"fi\n" +
	"terraform apply -var image=\"$IMAGE\"\n" +
	"```\n\n```sh\n" +
	"kubectl get crds/httproutes.gateway.networking.k8s.io -o \"jsonpath={.metadata.annotations.gateway\\.networking\\.k8s\\.io/bundle-version}\"\n" +
	"export LINKERD2_VERSION=edge-25.4.4\n" +
	"linkerd install --crds --set installGatewayAPI=false | kubectl apply -f -\n" +
	"kubectl create namespace v --dry-run=client -o yaml | kubectl apply -f -\n" +
	"curl -fsS \"$INGEST_URL/health\"\n" +
	"mkdir -p loadtest/out\n" +
	"locust -f loadtest/locustfile.py --headless --csv loadtest/out/cloud\n" +
	"```\n"

const secretSample = `resource "google_secret_manager_secret" "admin_token" {
  secret_id = "tok"
}

resource "google_cloud_run_v2_service" "svc" {
  template {
    containers {
      env {
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.admin_token.secret_id
            version = "latest"
          }
        }
      }
    }
  }
}
`

func TestDeployGuideChecksCatchTheOldForms(t *testing.T) {
	tf, diags := ParseTerraformSource("s.tf", []byte(secretSample))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	all := func(doc string) []string {
		p := append(CheckGuideRepeatable(doc), CheckGuideCommands(doc)...)
		return append(p, CheckSecretOrder(tf, doc)...)
	}
	if p := all(guideSample); len(p) != 0 {
		t.Fatalf("the good sample has problems: %v", p)
	}
	oldSecretOrder := strings.Replace(guideSample, "gcloud secrets versions describe latest --secret=tok >/dev/null 2>&1 ||\n  openssl rand -base64 32 | gcloud secrets versions add tok --data-file=-\n", "", 1) +
		"\n```sh\nopenssl rand -base64 32 | gcloud secrets versions add tok --data-file=-\n```\n"
	cases := []struct{ name, doc, want string }{
		{"secret value added after the full apply", oldSecretOrder, "only after the first full terraform apply"},
		{"secret container not targeted first", strings.Replace(guideSample, " \\\n  -target=google_secret_manager_secret.admin_token", "", 1), "does not create it (-target=google_secret_manager_secret.admin_token)"},
		{"bucket create twice", strings.Replace(guideSample, "gcloud storage buckets describe gs://b >/dev/null 2>&1 ||\n  ", "", 1), "gcloud storage buckets create gs://b\" is not safe to paste twice"},
		{"builds submit --tag twice", strings.Replace(strings.Replace(guideSample, "if ! gcloud artifacts docker images describe \"$IMAGE\" >/dev/null 2>&1; then\n", "", 1), "fi\n", "", 1), "the tag is immutable"},
		{"builds submit as the default account", strings.Replace(guideSample, " --service-account=\"$DEPLOYER\"", "", 1), "runs as the default build account"},
		{"builds submit without a log bucket", strings.Replace(guideSample, " \\\n    --gcs-log-dir=gs://b/logs", "", 1), "needs its own log bucket"},
		{"locust --csv into a missing folder", strings.Replace(guideSample, "mkdir -p loadtest/out\n", "", 1), "which no mkdir -p before it"},
		{"linkerd installs its Gateway API", strings.Replace(guideSample, " --set installGatewayAPI=false", "", 1), "pass --set installGatewayAPI=false"},
		{"no bundle check", strings.Replace(guideSample, "bundle-version", "version", 1), "check the cluster's Gateway API bundle version"},
		{"linkerd unpinned", strings.Replace(guideSample, "export LINKERD2_VERSION=edge-25.4.4\n", "", 1), "pin the Linkerd release"},
		{"2.14 or later", guideSample + "\nthe linkerd CLI (2.14 or later)\n", "read only HTTPRoute v1beta1"},
		{"kubectl from a laptop, unsaid", strings.Replace(guideSample, "Run this in Cloud Shell, or add your machine to master_authorized_networks.", "Run this.", 1), "say where kubectl runs"},
		{"kubectl create twice", strings.Replace(guideSample, " --dry-run=client -o yaml | kubectl apply -f -", "", 1), "kubectl create namespace v\" is not safe to paste twice"},
		{"external /healthz", strings.Replace(guideSample, "$INGEST_URL/health", "$INGEST_URL/healthz", 1), "paths ending in z"},
		{"cp over the tfvars", strings.Replace(guideSample, "[ -f terraform.tfvars ] || ", "", 1), "overwrites the operator's edited copy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.doc == guideSample {
				t.Fatal("case did not change the sample")
			}
			if p := all(c.doc); !containsSubstring(p, c.want) {
				t.Errorf("problems %q do not mention %q", p, c.want)
			}
		})
	}
}
