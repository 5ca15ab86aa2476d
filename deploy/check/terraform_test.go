package check

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func loadInfra(t *testing.T) *Terraform {
	t.Helper()
	tf, diags := LoadTerraform(filepath.Join(repoRoot(t), "infra"))
	if diags.HasErrors() {
		t.Fatalf("infra does not parse: %s", diags.Error())
	}
	return tf
}

// outsideTerraform are the secrets whose values never enter Terraform's state.
var outsideTerraform = []string{"google_secret_manager_secret.mongodb_uri", "google_secret_manager_secret.admin_token"}

func TestTerraformParsesAndReferencesAreDeclared(t *testing.T) {
	tf := loadInfra(t)
	if len(tf.Files) < 5 {
		t.Fatalf("only %d .tf files parsed", len(tf.Files))
	}
	for _, p := range CheckReferences(tf) {
		t.Error(p)
	}
	for _, p := range CheckSecrets(tf, outsideTerraform) {
		t.Error(p)
	}
	t.Logf("%d files, %d variables, %d resources", len(tf.Files), len(tf.Blocks("variable")), len(tf.Blocks("resource")))
}

func TestTerraformCloudRunTrafficIsTaggedAndOwnedByCloudBuild(t *testing.T) {
	tf := loadInfra(t)
	for _, p := range CheckCloudRun(tf) {
		t.Error(p)
	}
	for _, svc := range []string{"ingest", "realtime"} {
		b, ok := tf.Resource("google_cloud_run_v2_service", svc)
		if !ok {
			t.Errorf("no google_cloud_run_v2_service.%s", svc)
			continue
		}
		if name, _ := literalString(b.Body.Attributes["name"]); name != svc {
			t.Errorf("google_cloud_run_v2_service.%s is named %q; cloudbuild.yaml deploys %q", svc, name, svc)
		}
	}
}

func TestTerraformIsFormatted(t *testing.T) {
	tf := loadInfra(t)
	for _, p := range CheckFormat(tf) {
		t.Error(p)
	}
}

// terraform fmt itself, when the binary is here (it is on the project's machines).
func TestTerraformFmtCheck(t *testing.T) {
	bin := requireTool(t, "terraform", "formatting was checked with hclwrite.Format only (TestTerraformIsFormatted)")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "fmt", "-check", "-recursive", "-diff", filepath.Join(repoRoot(t), "infra"))
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1", "TF_CLI_CONFIG_FILE=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("terraform fmt -check -recursive infra: %v\n%s", err, out)
	}
}

// The redis route needs Redis to fsync every acknowledged write: Memorystore with AOF, ALWAYS.
func TestTerraformMemorystoreFsyncsEveryWrite(t *testing.T) {
	tf := loadInfra(t)
	b, ok := tf.Resource("google_memorystore_instance", "redis")
	if !ok {
		t.Fatal("no google_memorystore_instance.redis")
	}
	if mode, _ := NestedAttrString(b, "persistence_config", "mode"); mode != "AOF" {
		t.Errorf("persistence mode %q, want AOF", mode)
	}
	if fsync, _ := NestedAttrString(b, "persistence_config", "aof_config", "append_fsync"); fsync != "ALWAYS" {
		t.Errorf("append_fsync %q, want ALWAYS", fsync)
	}
	if mode, _ := literalString(b.Body.Attributes["mode"]); mode != "CLUSTER_DISABLED" {
		t.Errorf("mode %q, want CLUSTER_DISABLED (the app uses a plain Redis client)", mode)
	}
}

// Terraform's Pub/Sub names are the ones the code uses by default.
func TestTerraformPubSubNamesMatchTheCode(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "internal", "route", "pubsubroute", "pubsubroute.go"))
	if err != nil {
		t.Fatalf("read the Pub/Sub route's defaults: %v", err)
	}
	tf := loadInfra(t)
	for _, c := range []struct{ constant, typ, res string }{
		{"DefaultTopic", "google_pubsub_topic", "records"},
		{"DefaultSubscription", "google_pubsub_subscription", "sink"},
		{"DefaultDeadLetterTopic", "google_pubsub_topic", "dead_letter"},
	} {
		m := regexp.MustCompile(c.constant + `\s*=\s*"([^"]+)"`).FindSubmatch(src)
		if m == nil {
			t.Errorf("pubsubroute.go has no %s", c.constant)
			continue
		}
		got, _ := tf.ResourceAttrString(c.typ, c.res, "name")
		if got != string(m[1]) {
			t.Errorf("%s.%s is named %q, the code's %s is %q", c.typ, c.res, got, c.constant, m[1])
		}
	}
}

// --- the checkers catch bad input

func TestTerraformCheckersCatchBadInput(t *testing.T) {
	good := `variable "region" {
  type = string
}

locals {
  name = "x"
}

resource "google_cloud_run_v2_service" "svc" {
  name     = local.name
  location = var.region

  dynamic "labels" {
    for_each = {}
    content {
      key = labels.key
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
    tag     = "blue"
  }

  lifecycle {
    ignore_changes = [template, traffic, client, client_version]
  }
}

output "url" {
  value = google_cloud_run_v2_service.svc.uri
}
`
	tf, diags := ParseTerraformSource("good.tf", []byte(good))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, check := range []func(*Terraform) []string{CheckReferences, CheckCloudRun, CheckFormat} {
		if p := check(tf); len(p) != 0 {
			t.Fatalf("the good module has problems: %v", p)
		}
	}
	cases := []struct {
		name, from, to string
		check          func(*Terraform) []string
		want           string
	}{
		{"undeclared variable", "var.region", "var.regoin", CheckReferences, "var.regoin is not declared"},
		{"undeclared local", "local.name", "local.nmae", CheckReferences, "local.nmae is not declared"},
		{"undeclared resource", "google_cloud_run_v2_service.svc.uri", "google_cloud_run_v2_service.web.uri", CheckReferences, "google_cloud_run_v2_service.web.uri is not declared"},
		{"undeclared data source", "google_cloud_run_v2_service.svc.uri", "data.google_project.this.number", CheckReferences, "data.google_project.this.number is not declared"},
		{"no traffic block", "  traffic {\n    type    = \"TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST\"\n    percent = 100\n    tag     = \"blue\"\n  }\n", "", CheckCloudRun, "no traffic block"},
		{"untagged traffic", "    tag     = \"blue\"\n", "", CheckCloudRun, "has no literal tag"},
		{"traffic not 100", "percent = 100", "percent = 90", CheckCloudRun, "add up to 90"},
		{"traffic not ignored", "[template, traffic, ", "[template, ", CheckCloudRun, "lacks traffic"},
		{"template not ignored", "[template, ", "[", CheckCloudRun, "lacks template"},
		{"unformatted", "  name     = local.name", "  name = local.name", CheckFormat, "not formatted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(good, c.from, c.to, 1)
			if bad == good {
				t.Fatalf("case did not change the source (%q not found)", c.from)
			}
			tf, diags := ParseTerraformSource("bad.tf", []byte(bad))
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			if p := c.check(tf); !containsSubstring(p, c.want) {
				t.Errorf("problems %q do not mention %q", p, c.want)
			}
		})
	}
	t.Run("syntax error", func(t *testing.T) {
		_, diags := ParseTerraformSource("bad.tf", []byte("resource \"x\" \"y\" {\n  a = \n}\n"))
		if !diags.HasErrors() {
			t.Error("a broken file parsed")
		}
	})
	t.Run("secret value in terraform", func(t *testing.T) {
		src := `resource "google_secret_manager_secret" "mongodb_uri" {
  secret_id = "m"
}

resource "google_secret_manager_secret_version" "m" {
  secret      = google_secret_manager_secret.mongodb_uri.id
  secret_data = "` + credURL("mongodb", "h") + `"
}
`
		tf, diags := ParseTerraformSource("s.tf", []byte(src))
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		p := CheckSecrets(tf, outsideTerraform)
		if !containsSubstring(p, "literal secret_data") || !containsSubstring(p, "supplied outside Terraform") {
			t.Errorf("problems %q miss the literal value or the outside-only secret", p)
		}
	})
}

func TestTerraformCloudRunWorksOnANewProject(t *testing.T) {
	tf := loadInfra(t)
	for _, p := range CheckPublicMembers(tf) {
		t.Error(p)
	}
	for _, p := range CheckRunEgressSubnet(tf) {
		t.Error(p)
	}
}

// The forms infra/run.tf and network.tf had before: each must fail its check.
func TestTerraformCloudRunCatchesTheOldForms(t *testing.T) {
	good := `variable "max" {
  type    = number
  default = 20
}

variable "cidr" {
  type    = string
  default = "10.20.0.0/24"
}

resource "google_compute_subnetwork" "run" {
  name          = "run"
  ip_cidr_range = var.cidr
}

resource "google_cloud_run_v2_service" "svc" {
  name                 = "svc"
  ingress              = "INGRESS_TRAFFIC_ALL"
  invoker_iam_disabled = true

  scaling {
    min_instance_count = 1
  }

  template {
    scaling {
      max_instance_count = var.max
    }

    vpc_access {
      network_interfaces {
        subnetwork = google_compute_subnetwork.run.id
      }
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
    tag     = "blue"
  }

  lifecycle {
    ignore_changes = [template, traffic, client, client_version]
  }
}
`
	all := func(tf *Terraform) []string {
		return append(append(CheckCloudRun(tf), CheckPublicMembers(tf)...), CheckRunEgressSubnet(tf)...)
	}
	tf, diags := ParseTerraformSource("good.tf", []byte(good))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if p := all(tf); len(p) != 0 {
		t.Fatalf("the good module has problems: %v", p)
	}
	cases := []struct{ name, from, to, want string }{
		{"partial template ignore (409 on the next apply)", "ignore_changes = [template, traffic,", "ignore_changes = [template[0].revision, template[0].containers[0].image, traffic,", "ignores part of the template (template[0].revision)"},
		{"template not ignored", "ignore_changes = [template, traffic,", "ignore_changes = [traffic,", "lacks template"},
		{"revision-level minimum", "      max_instance_count = var.max\n", "      min_instance_count = 1\n      max_instance_count = var.max\n", "keeps instances warm for every revision"},
		{"public through allUsers", "  invoker_iam_disabled = true\n", "", "without invoker_iam_disabled"},
		{"subnet /26 for 20 instances", `default = "10.20.0.0/24"`, `default = "10.20.0.0/26"`, "10.20.0.0/26 has 60 usable addresses"},
		{"subnet /24 for 80 instances", "default = 20\n", "default = 80\n", "needs about 320 for 80 instances"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(good, c.from, c.to, 1)
			if bad == good {
				t.Fatalf("case did not change the source (%q not found)", c.from)
			}
			tf, diags := ParseTerraformSource("bad.tf", []byte(bad))
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			if p := all(tf); !containsSubstring(p, c.want) {
				t.Errorf("problems %q do not mention %q", p, c.want)
			}
		})
	}
	t.Run("allUsers member", func(t *testing.T) {
		src := `resource "google_cloud_run_v2_service_iam_member" "public" {
  name   = "svc"
  role   = "roles/run.invoker"
  member = "allUsers"
}
`
		tf, diags := ParseTerraformSource("iam.tf", []byte(src))
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		if p := CheckPublicMembers(tf); !containsSubstring(p, "grants to allUsers") {
			t.Errorf("problems %q miss the allUsers grant", p)
		}
	})
}

// The pubsub worker publishes poison messages to the dead-letter topic itself: its identity must
// be allowed to (without the grant every poison message is nacked until Pub/Sub's own policy
// gives up after max_delivery_attempts).
func TestTerraformWorkerMayDeadLetter(t *testing.T) {
	if p := CheckDeadLetterGrant(loadInfra(t), "worker-pubsub"); len(p) != 0 {
		t.Error(p)
	}
	src := `resource "google_pubsub_topic_iam_member" "other" {
  topic  = google_pubsub_topic.records.id
  role   = "roles/pubsub.publisher"
  member = "${local.wif_prefix}/worker-pubsub"
}
`
	tf, diags := ParseTerraformSource("iam.tf", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if p := CheckDeadLetterGrant(tf, "worker-pubsub"); !containsSubstring(p, "may not publish to the dead-letter topic") {
		t.Errorf("a module without the grant passed: %v", p)
	}
}
