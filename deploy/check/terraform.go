package check

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Terraform is the parsed content of one Terraform module directory (its *.tf files).
type Terraform struct {
	Dir   string
	Files map[string]*hclsyntax.Body // base name -> body
	Src   map[string][]byte
}

// LoadTerraform parses every .tf file of dir (not recursive: one module).
func LoadTerraform(dir string) (*Terraform, hcl.Diagnostics) {
	tf := &Terraform{Dir: dir, Files: map[string]*hclsyntax.Body{}, Src: map[string][]byte{}}
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(paths) == 0 {
		return tf, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("no .tf files in %s", dir)}}
	}
	p := hclparse.NewParser()
	var diags hcl.Diagnostics
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: err.Error()})
			continue
		}
		f, d := p.ParseHCL(src, path)
		diags = append(diags, d...)
		if f == nil {
			continue
		}
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: path + ": not native HCL syntax"})
			continue
		}
		tf.Files[filepath.Base(path)] = body
		tf.Src[filepath.Base(path)] = src
	}
	return tf, diags
}

// ParseTerraformSource parses one file's source, for tests of the checkers.
func ParseTerraformSource(name string, src []byte) (*Terraform, hcl.Diagnostics) {
	f, diags := hclparse.NewParser().ParseHCL(src, name)
	tf := &Terraform{Files: map[string]*hclsyntax.Body{}, Src: map[string][]byte{name: src}}
	if f != nil {
		if b, ok := f.Body.(*hclsyntax.Body); ok {
			tf.Files[name] = b
		}
	}
	return tf, diags
}

// Blocks returns every top-level block of the given type (in file-name order).
func (tf *Terraform) Blocks(typ string) []*hclsyntax.Block {
	var names []string
	for n := range tf.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*hclsyntax.Block
	for _, n := range names {
		for _, b := range tf.Files[n].Blocks {
			if b.Type == typ {
				out = append(out, b)
			}
		}
	}
	return out
}

// Resource returns the resource block of the given type and name.
func (tf *Terraform) Resource(typ, name string) (*hclsyntax.Block, bool) {
	for _, b := range tf.Blocks("resource") {
		if len(b.Labels) == 2 && b.Labels[0] == typ && b.Labels[1] == name {
			return b, true
		}
	}
	return nil, false
}

// VariableDefault returns the literal string default of a variable.
func (tf *Terraform) VariableDefault(name string) (string, bool) {
	for _, b := range tf.Blocks("variable") {
		if len(b.Labels) == 1 && b.Labels[0] == name {
			return literalString(b.Body.Attributes["default"])
		}
	}
	return "", false
}

// ResourceAttrString returns a literal string attribute of a resource.
func (tf *Terraform) ResourceAttrString(typ, name, attr string) (string, bool) {
	b, ok := tf.Resource(typ, name)
	if !ok {
		return "", false
	}
	return literalString(b.Body.Attributes[attr])
}

// NestedAttrString follows nested blocks by type (first of each) and returns a literal string attribute.
func NestedAttrString(b *hclsyntax.Block, path ...string) (string, bool) {
	body := b.Body
	for _, typ := range path[:len(path)-1] {
		var next *hclsyntax.Body
		for _, nb := range body.Blocks {
			if nb.Type == typ {
				next = nb.Body
				break
			}
		}
		if next == nil {
			return "", false
		}
		body = next
	}
	return literalString(body.Attributes[path[len(path)-1]])
}

func literalString(a *hclsyntax.Attribute) (string, bool) {
	if a == nil {
		return "", false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// builtinRoots are reference roots that are not declarations of the module.
var builtinRoots = []string{"count", "each", "self", "path", "terraform"}

// CheckReferences returns every reference to an undeclared variable, local, data source, module or
// resource.
func CheckReferences(tf *Terraform) []string {
	declared := map[string]bool{}
	iterators := map[string]bool{}
	for _, b := range tf.Blocks("variable") {
		declared["var."+b.Labels[0]] = true
	}
	for _, b := range tf.Blocks("locals") {
		for name := range b.Body.Attributes {
			declared["local."+name] = true
		}
	}
	for _, b := range tf.Blocks("resource") {
		declared[b.Labels[0]+"."+b.Labels[1]] = true
	}
	for _, b := range tf.Blocks("data") {
		declared["data."+b.Labels[0]+"."+b.Labels[1]] = true
	}
	for _, b := range tf.Blocks("module") {
		declared["module."+b.Labels[0]] = true
	}
	var problems []string
	for _, name := range sortedKeys(tf.Files) {
		body := tf.Files[name]
		// A variable's type constraint (type = list(string)) is not an expression of values.
		typeExprs := map[hclsyntax.Expression]bool{}
		for _, b := range body.Blocks {
			if a, ok := b.Body.Attributes["type"]; ok && b.Type == "variable" {
				typeExprs[a.Expr] = true
			}
		}
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			if b, ok := n.(*hclsyntax.Block); ok && b.Type == "dynamic" && len(b.Labels) == 1 {
				iterators[b.Labels[0]] = true
				if it, ok := b.Body.Attributes["iterator"]; ok {
					if tr, d := hcl.AbsTraversalForExpr(it.Expr); !d.HasErrors() {
						iterators[tr.RootName()] = true
					}
				}
			}
			return nil
		})
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			attr, ok := n.(*hclsyntax.Attribute)
			if !ok {
				return nil
			}
			// lifecycle.ignore_changes and depends_on name attributes and resources, not values.
			if attr.Name == "ignore_changes" || typeExprs[attr.Expr] {
				return nil
			}
			for _, tr := range attr.Expr.Variables() {
				root := tr.RootName()
				if slices.Contains(builtinRoots, root) || iterators[root] {
					continue
				}
				key := traversalKey(tr)
				if key == "" || !declared[key] {
					problems = append(problems, fmt.Sprintf("%s:%d: %s is not declared", name, tr.SourceRange().Start.Line, traversalString(tr)))
				}
			}
			return nil
		})
	}
	return problems
}

// traversalKey is the declaration a reference needs: var.x, local.x, data.t.n, module.m or t.n.
func traversalKey(tr hcl.Traversal) string {
	var parts []string
	for _, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			parts = append(parts, s.Name)
		case hcl.TraverseAttr:
			parts = append(parts, s.Name)
		default:
			return keyOf(parts)
		}
		if len(parts) == 3 {
			break
		}
	}
	return keyOf(parts)
}

func keyOf(parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	switch parts[0] {
	case "var", "local", "module":
		if len(parts) >= 2 {
			return parts[0] + "." + parts[1]
		}
	case "data":
		if len(parts) >= 3 {
			return strings.Join(parts[:3], ".")
		}
	default:
		if len(parts) >= 2 {
			return parts[0] + "." + parts[1]
		}
	}
	return ""
}

func traversalString(tr hcl.Traversal) string {
	var sb strings.Builder
	for _, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			sb.WriteString(s.Name)
		case hcl.TraverseAttr:
			sb.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			if s.Key.Type() == cty.Number {
				sb.WriteString("[" + s.Key.AsBigFloat().Text('f', -1) + "]")
			} else if s.Key.Type() == cty.String {
				sb.WriteString(`["` + s.Key.AsString() + `"]`)
			}
		case hcl.TraverseSplat:
			sb.WriteString("[*]")
		}
	}
	return sb.String()
}

// RequiredIgnoreChanges are the attributes of a Cloud Run service that Cloud Build owns after
// creation; Terraform must ignore them or every apply reverts a rollout.
// Terraform owns the service, Cloud Build the revisions (the whole template) and the traffic. Ignoring
// only parts of the template (its revision name, image or env) is the old, broken split: any other
// template change makes Terraform send the template again under the revision name gcloud last set,
// and Cloud Run refuses a changed template under an existing revision name (409).
var RequiredIgnoreChanges = []string{"template", "traffic", "client", "client_version"}

// CheckCloudRun returns problems of the google_cloud_run_v2_service resources: each needs traffic
// blocks with tags whose percentages add up to 100, and lifecycle.ignore_changes on what the
// pipeline owns.
func CheckCloudRun(tf *Terraform) []string {
	var problems []string
	n := 0
	for _, b := range tf.Blocks("resource") {
		if b.Labels[0] != "google_cloud_run_v2_service" {
			continue
		}
		n++
		name := b.Labels[0] + "." + b.Labels[1]
		sum, traffic := 0, 0
		for _, tb := range b.Body.Blocks {
			if tb.Type != "traffic" {
				continue
			}
			traffic++
			if tag, ok := literalString(tb.Body.Attributes["tag"]); !ok || tag == "" {
				problems = append(problems, fmt.Sprintf("%s: a traffic block has no literal tag", name))
			}
			if a := tb.Body.Attributes["percent"]; a != nil {
				v, d := a.Expr.Value(nil)
				if d.HasErrors() || v.Type() != cty.Number {
					problems = append(problems, fmt.Sprintf("%s: traffic percent is not a literal number", name))
				} else {
					p, _ := v.AsBigFloat().Int64()
					sum += int(p)
				}
			}
		}
		if traffic == 0 {
			problems = append(problems, fmt.Sprintf("%s: no traffic block", name))
		} else if sum != 100 {
			problems = append(problems, fmt.Sprintf("%s: traffic percentages add up to %d, not 100", name, sum))
		}
		ignored := map[string]bool{}
		for _, lb := range b.Body.Blocks {
			if lb.Type != "lifecycle" {
				continue
			}
			a := lb.Body.Attributes["ignore_changes"]
			if a == nil {
				continue
			}
			tuple, ok := a.Expr.(*hclsyntax.TupleConsExpr)
			if !ok {
				continue
			}
			for _, e := range tuple.Exprs {
				if tr, d := hcl.AbsTraversalForExpr(e); !d.HasErrors() {
					ignored[traversalString(tr)] = true
				}
			}
		}
		for _, want := range RequiredIgnoreChanges {
			if !ignored[want] {
				problems = append(problems, fmt.Sprintf("%s: lifecycle.ignore_changes lacks %s (Cloud Build owns it)", name, want))
			}
		}
		for _, k := range sortedKeys(ignored) {
			if strings.HasPrefix(k, "template[") || strings.HasPrefix(k, "template.") {
				problems = append(problems, fmt.Sprintf("%s: lifecycle.ignore_changes ignores part of the template (%s): ignore the whole template, or a later apply re-sends a revision name gcloud already used (409)", name, k))
			}
		}
		problems = append(problems, checkRunService(tf, name, b)...)
	}
	if n == 0 {
		problems = append(problems, "no google_cloud_run_v2_service resource")
	}
	return problems
}

// CheckFormat returns the files whose formatting differs from hclwrite.Format (terraform fmt).
func CheckFormat(tf *Terraform) []string {
	var problems []string
	for _, name := range sortedKeys(tf.Src) {
		src := tf.Src[name]
		if !bytes.Equal(hclwrite.Format(src), src) {
			problems = append(problems, name+": not formatted (run terraform fmt)")
		}
	}
	return problems
}

// CheckSecrets returns secret values that Terraform would hold: secret versions with literal data,
// and versions of the secrets whose values must be supplied outside Terraform.
func CheckSecrets(tf *Terraform, outside []string) []string {
	var problems []string
	for _, b := range tf.Blocks("resource") {
		if b.Labels[0] != "google_secret_manager_secret_version" {
			continue
		}
		name := b.Labels[0] + "." + b.Labels[1]
		if _, ok := literalString(b.Body.Attributes["secret_data"]); ok {
			problems = append(problems, name+": literal secret_data")
		}
		if a := b.Body.Attributes["secret"]; a != nil {
			for _, tr := range a.Expr.Variables() {
				k := traversalKey(tr)
				if slices.Contains(outside, k) {
					problems = append(problems, fmt.Sprintf("%s: a version of %s (its value must be supplied outside Terraform)", name, k))
				}
			}
		}
	}
	return problems
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
