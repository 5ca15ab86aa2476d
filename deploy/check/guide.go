package check

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// ShellBlocks returns the ```sh blocks of a Markdown document, with their offsets.
func ShellBlocks(doc string) (blocks []string, offsets []int) {
	re := regexp.MustCompile("(?s)```sh\n(.*?)```")
	for _, m := range re.FindAllStringSubmatchIndex(doc, -1) {
		blocks = append(blocks, doc[m[2]:m[3]])
		offsets = append(offsets, m[2])
	}
	return blocks, offsets
}

// commands joins a shell block's continuation lines (a trailing backslash, ||, && or |) into one
// logical command each, with comments dropped, and tracks whether each is inside an if/fi.
type shellCommand struct {
	text   string
	inIf   bool
	offset int // within the block
}

func commands(block string) []shellCommand {
	var out []shellCommand
	depth := 0
	var cur strings.Builder
	start := 0
	pos := 0
	for _, line := range strings.SplitAfter(block, "\n") {
		lineStart := pos
		pos += len(line)
		t := strings.TrimSpace(line)
		if i := strings.Index(t, " #"); i >= 0 && !strings.Contains(t[:i], "'") && !strings.Contains(t[:i], `"`) {
			t = strings.TrimSpace(t[:i])
		}
		if strings.HasPrefix(t, "#") || t == "" {
			continue
		}
		if cur.Len() == 0 {
			start = lineStart
		}
		cur.WriteString(strings.TrimSuffix(t, `\`))
		cur.WriteString(" ")
		if strings.HasSuffix(t, `\`) || strings.HasSuffix(t, "||") || strings.HasSuffix(t, "&&") || strings.HasSuffix(t, "|") {
			continue
		}
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if strings.HasPrefix(text, "if ") {
			depth++
		}
		out = append(out, shellCommand{text: text, inIf: depth > 0, offset: start})
		if text == "fi" || strings.HasSuffix(text, "; fi") {
			depth--
		}
	}
	return out
}

// notRepeatable are commands that fail, or change what exists, when a block is pasted twice.
var notRepeatable = []struct{ re, why string }{
	{`gcloud storage buckets create`, "the bucket exists the second time"},
	{`gcloud secrets versions add`, "adds (rotates) a value every time"},
	{`docker push`, "the tag is immutable: the second push is refused"},
	{`gcloud builds submit .*--tag`, "the tag is immutable: the second push is refused"},
	{`kubectl( -n \S+)? create `, "the object exists the second time (use --dry-run=client -o yaml | kubectl apply -f -)"},
	{`^cp \S+\.example `, "overwrites the operator's edited copy"},
}

// CheckGuideRepeatable returns guide commands that are not safe to paste twice: each must be
// guarded (`describe ... ||`, inside an if, or a --dry-run piped to apply).
func CheckGuideRepeatable(doc string) []string {
	var problems []string
	blocks, _ := ShellBlocks(doc)
	for i, b := range blocks {
		for _, c := range commands(b) {
			for _, nr := range notRepeatable {
				loc := regexp.MustCompile(nr.re).FindStringIndex(c.text)
				if loc == nil {
					continue
				}
				guarded := c.inIf || strings.Contains(c.text[:loc[0]], "||") || strings.Contains(c.text, "--dry-run")
				if !guarded {
					problems = append(problems, fmt.Sprintf("sh block %d: %q is not safe to paste twice: %s", i, c.text, nr.why))
				}
			}
		}
	}
	return problems
}

// CheckGuideCommands returns guide commands that fail on a new project or a fresh clone: Cloud Build
// submitted as the default build account (it has no grants on new projects) or with a chosen
// account but no log bucket, Locust writing CSV files into a folder nothing created, Linkerd
// installing its own Gateway API CRDs over GKE's, external checks on paths ending in z.
func CheckGuideCommands(doc string) []string {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	blocks, _ := ShellBlocks(doc)
	zpath := regexp.MustCompile(`(https?://|_URL\}?|\$\{?[A-Z_]*URL\}?)\S*/(healthz|readyz)\b`)
	for i, b := range blocks {
		made := map[string]bool{}
		for _, c := range commands(b) {
			for _, m := range regexp.MustCompile(`mkdir -p (\S+)`).FindAllStringSubmatch(c.text, -1) {
				made[strings.TrimSuffix(m[1], "/")] = true
			}
			if strings.Contains(c.text, "gcloud builds submit") {
				if !strings.Contains(c.text, "--service-account") {
					add("sh block %d: %q runs as the default build account, which new projects give no Artifact Registry or source bucket access: pass --service-account (the deployer)", i, c.text)
				} else if strings.Contains(c.text, "--tag") && !strings.Contains(c.text, "--gcs-log-dir") {
					add("sh block %d: %q: a build with a chosen service account needs its own log bucket (--gcs-log-dir)", i, c.text)
				}
			}
			if m := regexp.MustCompile(`--csv[= ](\S+)`).FindStringSubmatch(c.text); m != nil {
				if dir := path.Dir(m[1]); dir != "." && !made[dir] {
					add("sh block %d: locust --csv %s writes into %s, which no mkdir -p before it in the block creates", i, m[1], dir)
				}
			}
			if strings.Contains(c.text, "linkerd install --crds") && !strings.Contains(c.text, "installGatewayAPI=false") {
				add("sh block %d: %q may install Linkerd's Gateway API CRDs over the cluster's: pass --set installGatewayAPI=false", i, c.text)
			}
			if m := zpath.FindString(c.text); m != "" {
				add("sh block %d: %s: Cloud Run may answer its own 404 from outside for paths ending in z: use /health or /ready", i, m)
			}
		}
	}
	for _, want := range []struct{ text, why string }{
		{`gateway\.networking\.k8s\.io/bundle-version`, "the guide must check the cluster's Gateway API bundle version before installing Linkerd"},
		{"LINKERD2_VERSION=", "the guide must pin the Linkerd release"},
		{"Cloud Shell", "the guide must say where kubectl runs (Cloud Shell, or a machine in master_authorized_networks)"},
		{"master_authorized_networks", "the guide must say how to admit an operator's machine to the control plane"},
	} {
		if !strings.Contains(doc, want.text) {
			add("%s (no %q)", want.why, want.text)
		}
	}
	if strings.Contains(doc, "2.14 or later") {
		add(`"2.14 or later": Linkerd 2.14-2.17 read only HTTPRoute v1beta1`)
	}
	return problems
}

// RunSecretRefs returns the secret resources that the Cloud Run services read (secret_key_ref).
func RunSecretRefs(tf *Terraform) []string {
	var out []string
	seen := map[string]bool{}
	for _, b := range tf.Blocks("resource") {
		if b.Labels[0] != "google_cloud_run_v2_service" {
			continue
		}
		for _, k := range nestedRefs(b.Body, "secret_key_ref", "secret") {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// CheckSecretOrder returns secrets a Cloud Run revision reads at a version that nothing has
// created by the time the guide's first full `terraform apply` creates the services: a secret
// without a google_secret_manager_secret_version in Terraform must be created (-target) and given a
// value (gcloud secrets versions add) before that apply, or the first revision fails to start.
func CheckSecretOrder(tf *Terraform, doc string) []string {
	var problems []string
	versioned := map[string]bool{}
	for _, b := range tf.Blocks("resource") {
		if b.Labels[0] == "google_secret_manager_secret_version" {
			for _, k := range nestedRefs(b.Body, "", "secret") {
				versioned[k] = true
			}
		}
	}
	fullApply := -1
	blocks, offsets := ShellBlocks(doc)
	for i, b := range blocks {
		for _, c := range commands(b) {
			if strings.Contains(c.text, "terraform apply") && !strings.Contains(c.text, "-target=") && fullApply < 0 {
				fullApply = offsets[i] + c.offset
			}
		}
	}
	if fullApply < 0 {
		return []string{"the guide has no full terraform apply"}
	}
	before := doc[:fullApply]
	for _, ref := range RunSecretRefs(tf) {
		if versioned[ref] {
			continue
		}
		name := strings.TrimPrefix(ref, "google_secret_manager_secret.")
		id, ok := tf.ResourceAttrString("google_secret_manager_secret", name, "secret_id")
		if !ok {
			problems = append(problems, ref+": no literal secret_id")
			continue
		}
		if !strings.Contains(before, "-target="+ref) {
			problems = append(problems, fmt.Sprintf("%s: read by Cloud Run at a version, but the guide does not create it (-target=%s) before the first full terraform apply", ref, ref))
		}
		if !regexp.MustCompile(`gcloud secrets versions add ` + regexp.QuoteMeta(id) + `\b`).MatchString(before) {
			problems = append(problems, fmt.Sprintf("%s: read by Cloud Run at a version, but the guide adds its value (gcloud secrets versions add %s) only after the first full terraform apply: the first revision fails to start", ref, id))
		}
	}
	return problems
}

// nestedRefs returns the resource keys (type.name) referenced by attribute attr of every block of
// type blockType under body, at any depth ("" means body itself).
func nestedRefs(body *hclsyntax.Body, blockType, attr string) []string {
	var out []string
	if blockType == "" {
		if a := body.Attributes[attr]; a != nil {
			for _, tr := range a.Expr.Variables() {
				if k := traversalKey(tr); k != "" {
					out = append(out, k)
				}
			}
		}
	}
	for _, b := range body.Blocks {
		if b.Type == blockType {
			out = append(out, nestedRefs(b.Body, "", attr)...)
		}
		out = append(out, nestedRefs(b.Body, blockType, attr)...)
	}
	return out
}
