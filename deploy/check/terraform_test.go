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
    ignore_changes = [traffic, template[0].containers[0].image, template[0].revision, client, client_version]
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
		{"traffic not ignored", "ignore_changes = [traffic, ", "ignore_changes = [", CheckCloudRun, "lacks traffic"},
		{"image not ignored", "template[0].containers[0].image, ", "", CheckCloudRun, "lacks template[0].containers[0].image"},
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
