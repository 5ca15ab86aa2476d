package check

import (
	"fmt"
	"math/big"
	"net/netip"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// AddressesPerInstance is how many Direct VPC egress addresses to plan per Cloud Run instance:
// 2 in steady state, twice that while a revision replaces another, reserved in blocks of 16
// (https://cloud.google.com/run/docs/configuring/vpc-direct-vpc#direct-vpc-ip-allocation).
const AddressesPerInstance = 4

// firstBlock returns the first nested block of type typ.
func firstBlock(body *hclsyntax.Body, typ string) *hclsyntax.Block {
	for _, b := range body.Blocks {
		if b.Type == typ {
			return b
		}
	}
	return nil
}

// Value evaluates an attribute that is a literal or a single var.NAME with a literal default.
func (tf *Terraform) Value(a *hclsyntax.Attribute) (cty.Value, bool) {
	if a == nil {
		return cty.NilVal, false
	}
	if v, d := a.Expr.Value(nil); !d.HasErrors() && v.IsKnown() && !v.IsNull() {
		return v, true
	}
	tr, d := hcl.AbsTraversalForExpr(a.Expr)
	if d.HasErrors() || len(tr) != 2 || tr.RootName() != "var" {
		return cty.NilVal, false
	}
	attr, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return cty.NilVal, false
	}
	for _, b := range tf.Blocks("variable") {
		if len(b.Labels) == 1 && b.Labels[0] == attr.Name {
			if def := b.Body.Attributes["default"]; def != nil {
				v, d := def.Expr.Value(nil)
				if !d.HasErrors() && v.IsKnown() && !v.IsNull() {
					return v, true
				}
			}
		}
	}
	return cty.NilVal, false
}

func (tf *Terraform) number(a *hclsyntax.Attribute) (int64, bool) {
	v, ok := tf.Value(a)
	if !ok || v.Type() != cty.Number {
		return 0, false
	}
	n, _ := v.AsBigFloat().Int64()
	return n, true
}

// checkRunService holds one google_cloud_run_v2_service to what a real project accepts: public
// access without allUsers, minimum instances at the service level, not per revision.
func checkRunService(tf *Terraform, name string, b *hclsyntax.Block) []string {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	if ingress, _ := literalString(b.Body.Attributes["ingress"]); ingress == "INGRESS_TRAFFIC_ALL" {
		if v, ok := tf.Value(b.Body.Attributes["invoker_iam_disabled"]); !ok || v.Type() != cty.Bool || !v.True() {
			add("%s: public (ingress ALL) without invoker_iam_disabled = true: an allUsers invoker is refused under domain-restricted sharing", name)
		}
	}
	if tmpl := firstBlock(b.Body, "template"); tmpl != nil {
		if sc := firstBlock(tmpl.Body, "scaling"); sc != nil {
			if a := sc.Body.Attributes["min_instance_count"]; a != nil {
				if n, ok := tf.number(a); !ok || n > 0 {
					add("%s: template.scaling.min_instance_count keeps instances warm for every revision, tagged 0%% ones too: set the minimum in the service-level scaling block", name)
				}
			}
		}
	}
	return problems
}

// CheckPublicMembers returns IAM grants to allUsers or allAuthenticatedUsers, which the
// domain-restricted-sharing organization policy refuses (the apply fails on such projects).
func CheckPublicMembers(tf *Terraform) []string {
	var problems []string
	for _, b := range tf.Blocks("resource") {
		for _, attr := range []string{"member", "members"} {
			a := b.Body.Attributes[attr]
			if a == nil {
				continue
			}
			r := a.Expr.Range()
			raw := tf.Src[baseName(r.Filename)]
			if r.End.Byte > len(raw) {
				continue
			}
			src := string(r.SliceBytes(raw))
			for _, who := range []string{"allUsers", "allAuthenticatedUsers"} {
				if strings.Contains(src, who) {
					problems = append(problems, fmt.Sprintf("%s.%s: grants to %s (refused under domain-restricted sharing; use invoker_iam_disabled on Cloud Run)", b.Labels[0], b.Labels[1], who))
				}
			}
		}
	}
	return problems
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// CheckRunEgressSubnet returns Direct VPC egress subnets too small for the Cloud Run services on
// them: AddressesPerInstance per instance at every service's max_instance_count, rounded up to the
// blocks of 16 Cloud Run reserves, within the range's usable addresses (4 are Google's).
func CheckRunEgressSubnet(tf *Terraform) []string {
	var problems []string
	need := map[string]int64{}
	var order []string
	for _, b := range tf.Blocks("resource") {
		if b.Labels[0] != "google_cloud_run_v2_service" {
			continue
		}
		tmpl := firstBlock(b.Body, "template")
		if tmpl == nil {
			continue
		}
		va := firstBlock(tmpl.Body, "vpc_access")
		if va == nil {
			continue
		}
		ni := firstBlock(va.Body, "network_interfaces")
		if ni == nil || ni.Body.Attributes["subnetwork"] == nil {
			continue
		}
		var subnet string
		for _, tr := range ni.Body.Attributes["subnetwork"].Expr.Variables() {
			k := traversalKey(tr)
			if strings.HasPrefix(k, "google_compute_subnetwork.") {
				subnet = strings.TrimPrefix(k, "google_compute_subnetwork.")
			}
		}
		if subnet == "" {
			continue
		}
		max := int64(100) // Cloud Run's default maximum
		if sc := firstBlock(tmpl.Body, "scaling"); sc != nil {
			if n, ok := tf.number(sc.Body.Attributes["max_instance_count"]); ok {
				max = n
			}
		}
		if _, seen := need[subnet]; !seen {
			order = append(order, subnet)
		}
		need[subnet] += max
	}
	for _, subnet := range order {
		sb, ok := tf.Resource("google_compute_subnetwork", subnet)
		if !ok {
			continue
		}
		v, ok := tf.Value(sb.Body.Attributes["ip_cidr_range"])
		if !ok || v.Type() != cty.String {
			problems = append(problems, fmt.Sprintf("google_compute_subnetwork.%s: ip_cidr_range is not a literal or a variable default", subnet))
			continue
		}
		p, err := netip.ParsePrefix(v.AsString())
		if err != nil {
			problems = append(problems, fmt.Sprintf("google_compute_subnetwork.%s: %v", subnet, err))
			continue
		}
		size := new(big.Int).Lsh(big.NewInt(1), uint(p.Addr().BitLen()-p.Bits()))
		usable := size.Int64() - 4
		want := (need[subnet]*AddressesPerInstance + 15) / 16 * 16
		if p.Bits() > 26 || usable < want {
			problems = append(problems, fmt.Sprintf("google_compute_subnetwork.%s: %s has %d usable addresses; Cloud Run's Direct VPC egress needs about %d for %d instances (%d per instance, blocks of 16, at least /26)", subnet, p, usable, want, need[subnet], AddressesPerInstance))
		}
	}
	return problems
}

// CheckDeadLetterGrant returns a problem unless principal (a Kubernetes service account name in
// the member) is granted roles/pubsub.publisher on google_pubsub_topic.dead_letter.
func CheckDeadLetterGrant(tf *Terraform, principal string) []string {
	for _, b := range tf.Blocks("resource") {
		if b.Labels[0] != "google_pubsub_topic_iam_member" {
			continue
		}
		role, _ := literalString(b.Body.Attributes["role"])
		topic := b.Body.Attributes["topic"]
		member := b.Body.Attributes["member"]
		if role != "roles/pubsub.publisher" || topic == nil || member == nil {
			continue
		}
		onDead := false
		for _, tr := range topic.Expr.Variables() {
			if traversalKey(tr) == "google_pubsub_topic.dead_letter" {
				onDead = true
			}
		}
		r := member.Expr.Range()
		raw := tf.Src[baseName(r.Filename)]
		if onDead && r.End.Byte <= len(raw) && strings.Contains(string(r.SliceBytes(raw)), "/"+principal) {
			return nil
		}
	}
	return []string{principal + " may not publish to the dead-letter topic (roles/pubsub.publisher on google_pubsub_topic.dead_letter)"}
}
