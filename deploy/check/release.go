package check

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The GKE release (docs/deploy.md, "GKE release"): every Deployment of a released component has a
// stable and a canary track; the canary runs the release being judged, the GRPCRoute weighs the
// gRPC server's tracks, and `vacunometro rollout --by track` tells the tracks' series apart by the
// label the PodMonitoring copies from the pod.
const (
	// TrackLabel is the pod label naming a release track.
	TrackLabel = "vacunometro.io/track"
	// TrackSeriesLabel is the series label the rollout groups by (internal/rollout.TrackLabel).
	TrackSeriesLabel = "track"
	// CanaryShareAnnotation, set to "replica-share", marks a Service that reaches both tracks on
	// purpose: its (unmeshed) clients get the canary by its share of ready pods.
	CanaryShareAnnotation = "vacunometro.io/canary"
	// CanarySuffix names a canary Deployment after its stable one.
	CanarySuffix   = "-canary"
	componentLabel = "app.kubernetes.io/component"
	nameLabel      = "app.kubernetes.io/name"
)

// ReleasedComponents are the components the GKE release judges through a canary: the gRPC server
// and the queue workers.
var ReleasedComponents = []string{"grpc-server", "worker"}

// route is what ReleasePolicy reads of an HTTPRoute or a GRPCRoute.
type route struct {
	o        Object
	kind     string
	ns       string
	parents  []gatewayv1.ParentReference
	backends [][]gatewayv1.BackendRef // by rule
}

func routes(objs []Object) []route {
	var out []route
	for _, o := range objs {
		switch x := o.Obj.(type) {
		case *gatewayv1.HTTPRoute:
			out = append(out, newRoute(o, "HTTPRoute", x.Namespace, x.Spec.ParentRefs, x.Spec.Rules,
				func(r gatewayv1.HTTPRouteRule) []gatewayv1.HTTPBackendRef { return r.BackendRefs },
				func(b gatewayv1.HTTPBackendRef) gatewayv1.BackendRef { return b.BackendRef }))
		case *gatewayv1.GRPCRoute:
			out = append(out, newRoute(o, "GRPCRoute", x.Namespace, x.Spec.ParentRefs, x.Spec.Rules,
				func(r gatewayv1.GRPCRouteRule) []gatewayv1.GRPCBackendRef { return r.BackendRefs },
				func(b gatewayv1.GRPCBackendRef) gatewayv1.BackendRef { return b.BackendRef }))
		}
	}
	return out
}

// newRoute reads the backends of each rule of an HTTPRoute or a GRPCRoute.
func newRoute[R, B any](o Object, kind, ns string, parents []gatewayv1.ParentReference, rules []R,
	refs func(R) []B, ref func(B) gatewayv1.BackendRef) route {
	r := route{o: o, kind: kind, ns: ns, parents: parents}
	for _, rule := range rules {
		var bs []gatewayv1.BackendRef
		for _, b := range refs(rule) {
			bs = append(bs, ref(b))
		}
		r.backends = append(r.backends, bs)
	}
	return r
}

// ReleasePolicy returns what breaks the judged GKE release:
//   - a Deployment of a released component without a track label, or without its canary
//     (NAME-canary, track canary): the release would reach it all at once, unjudged;
//   - a canary that differs from its stable Deployment in anything but the container images and
//     the name and track labels (a judged canary would not be what gets promoted), that runs pods
//     between releases (replicas must be 0) or that an HPA scales, or selectors of the two tracks
//     that overlap (the stable HPA and PDB would count canary pods);
//   - a Service that selects canary pods and is no route's backend (unmeshed clients, or a client
//     the route does not apply to, would reach the canary unweighed), unless it is marked
//     vacunometro.io/canary: replica-share (its clients get the canary by its share of pods);
//   - a route weighing tracked pods whose backendRefs lack an explicit weight, name a Service that
//     is not rendered, has no such port or mixes tracks, whose parent Service or port is missing,
//     that gives a canary weight in the manifests (every apply would send traffic to it), or an
//     HTTPRoute in front of gRPC backends (Linkerd routes gRPC with a GRPCRoute);
//   - a tracked Deployment that no PodMonitoring scrapes with the track copied onto its series
//     (targetLabels.fromPod from vacunometro.io/track to "track"): the rollout could not judge it.
func ReleasePolicy(objs []Object) []string {
	var v []string
	add := func(format string, a ...any) { v = append(v, fmt.Sprintf(format, a...)) }
	deps := map[nsName]*appsv1.Deployment{}
	var names []nsName
	for _, o := range objs {
		if d, ok := o.Obj.(*appsv1.Deployment); ok {
			k := nsName{d.Namespace, d.Name}
			deps[k] = d
			names = append(names, k)
		}
	}
	sort.Slice(names, func(i, j int) bool { return names[i].ns+"/"+names[i].name < names[j].ns+"/"+names[j].name })
	scaled := map[nsName]bool{}
	services := map[nsName]*corev1.Service{}
	for _, o := range objs {
		switch x := o.Obj.(type) {
		case *autoscalingv2.HorizontalPodAutoscaler:
			if x.Spec.ScaleTargetRef.Kind == "Deployment" {
				scaled[nsName{x.Namespace, x.Spec.ScaleTargetRef.Name}] = true
			}
		case *corev1.Service:
			services[nsName{x.Namespace, x.Name}] = x
		}
	}

	// Tracks of the released Deployments.
	var tracked []*appsv1.Deployment
	for _, k := range names {
		d := deps[k]
		track := d.Spec.Template.Labels[TrackLabel]
		released := slices.Contains(ReleasedComponents, d.Spec.Template.Labels[componentLabel])
		if track == "" {
			if released {
				add("Deployment %s (component %s): no %s label: it is released unjudged (give it a stable track and a canary %s%s)", d.Name, d.Spec.Template.Labels[componentLabel], TrackLabel, d.Name, CanarySuffix)
			}
			continue
		}
		tracked = append(tracked, d)
		switch track {
		case "stable":
			c, ok := deps[nsName{d.Namespace, d.Name + CanarySuffix}]
			if !ok || c.Spec.Template.Labels[TrackLabel] != "canary" {
				add("Deployment %s (track stable) has no canary Deployment %s%s with %s: canary", d.Name, d.Name, CanarySuffix, TrackLabel)
				continue
			}
			for _, diff := range trackDiff(d, c) {
				add("Deployment %s differs from %s beyond the image and the name and track labels: %s", c.Name, d.Name, diff)
			}
			if sel, err := metaSelector(d.Spec.Selector); err == nil && sel.Matches(labels.Set(c.Spec.Template.Labels)) {
				add("Deployment %s: its selector %v also matches the pods of %s (the stable HPA and PDB would count canary pods)", d.Name, sel, c.Name)
			}
			if sel, err := metaSelector(c.Spec.Selector); err == nil && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				add("Deployment %s: its selector %v also matches the pods of %s", c.Name, sel, d.Name)
			}
		case "canary":
			stable, ok := strings.CutSuffix(d.Name, CanarySuffix)
			if !ok || deps[nsName{d.Namespace, stable}] == nil {
				add("Deployment %s (track canary) is not named after a stable Deployment (NAME%s)", d.Name, CanarySuffix)
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 0 {
				add("Deployment %s (track canary): spec.replicas must be 0 (the release scales it up for the judgement; an apply puts it back), not %s", d.Name, replicasString(d.Spec.Replicas))
			}
			if scaled[nsName{d.Namespace, d.Name}] {
				add("Deployment %s (track canary) is scaled by an HPA: the release owns its replica count", d.Name)
			}
		default:
			add("Deployment %s: %s %q, want stable or canary", d.Name, TrackLabel, track)
		}
	}
	podsOf := func(ns string, sel map[string]string) (tracks []string, n int) {
		for _, d := range tracked {
			if d.Namespace == ns && labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels)) {
				n++
				if t := d.Spec.Template.Labels[TrackLabel]; !slices.Contains(tracks, t) {
					tracks = append(tracks, t)
				}
			}
		}
		sort.Strings(tracks)
		return tracks, n
	}

	// Routes over tracked pods.
	backendOf := map[nsName]bool{}
	for _, r := range routes(objs) {
		weighsTracks := false
		for _, bs := range r.backends {
			for _, b := range bs {
				if s, ok := services[nsName{backendNS(r.ns, b), string(b.Name)}]; ok {
					if ts, _ := podsOf(s.Namespace, s.Spec.Selector); len(ts) > 0 {
						weighsTracks = true
					}
				}
				backendOf[nsName{backendNS(r.ns, b), string(b.Name)}] = true
			}
		}
		if !weighsTracks {
			continue
		}
		for _, p := range r.parents {
			if p.Kind == nil || *p.Kind != "Service" {
				continue
			}
			ns := r.ns
			if p.Namespace != nil {
				ns = string(*p.Namespace)
			}
			s, ok := services[nsName{ns, string(p.Name)}]
			switch {
			case !ok:
				add("%s: parent Service %s/%s is not rendered", r.o.Name, ns, p.Name)
			case p.Port == nil:
				add("%s: parentRef %s has no port (the route would apply to every port of the Service)", r.o.Name, p.Name)
			case !servicePort(s, int32(*p.Port)):
				add("%s: parent Service %s has no port %d", r.o.Name, p.Name, *p.Port)
			}
		}
		total := int32(0)
		for i, bs := range r.backends {
			for _, b := range bs {
				if b.Kind != nil && *b.Kind != "Service" {
					continue
				}
				s, ok := services[nsName{backendNS(r.ns, b), string(b.Name)}]
				if !ok {
					add("%s: rule %d backend Service %s is not rendered", r.o.Name, i, b.Name)
					continue
				}
				if b.Weight == nil {
					add("%s: rule %d backend %s has no explicit weight (the rollout steps explicit weights; the default 1 would split evenly)", r.o.Name, i, b.Name)
				} else {
					total += *b.Weight
				}
				var port *corev1.ServicePort
				for j := range s.Spec.Ports {
					if b.Port != nil && s.Spec.Ports[j].Port == int32(*b.Port) {
						port = &s.Spec.Ports[j]
					}
				}
				if port == nil {
					add("%s: rule %d backend %s: the Service has no port %s", r.o.Name, i, b.Name, portString(b.Port))
				} else if r.kind == "HTTPRoute" && (port.Name == "grpc" || (port.AppProtocol != nil && *port.AppProtocol == "kubernetes.io/h2c")) {
					add("%s: backend %s port %d carries gRPC: weigh it with a GRPCRoute (Linkerd 2.18+ reads gateway.networking.k8s.io/v1 GRPCRoute), not an HTTPRoute", r.o.Name, b.Name, port.Port)
				}
				tracks, n := podsOf(s.Namespace, s.Spec.Selector)
				switch {
				case n == 0:
					add("%s: backend Service %s selects no tracked pods", r.o.Name, b.Name)
				case len(tracks) > 1:
					add("%s: backend Service %s selects the pods of several tracks (%s): a weight would not be one track's", r.o.Name, b.Name, strings.Join(tracks, ", "))
				case tracks[0] == "canary" && b.Weight != nil && *b.Weight != 0:
					add("%s: backend %s (track canary) has weight %d in the manifests: every apply would send traffic to the canary unjudged (0; the rollout steps it)", r.o.Name, b.Name, *b.Weight)
				}
			}
		}
		if total <= 0 {
			add("%s: the backend weights add up to %d", r.o.Name, total)
		}
	}

	// Services that reach canary pods outside any route's weights.
	var svcNames []nsName
	for k := range services {
		svcNames = append(svcNames, k)
	}
	sort.Slice(svcNames, func(i, j int) bool { return svcNames[i].name < svcNames[j].name })
	for _, k := range svcNames {
		s := services[k]
		if len(s.Spec.Selector) == 0 || backendOf[k] || s.Annotations[CanaryShareAnnotation] == "replica-share" {
			continue
		}
		if tracks, _ := podsOf(s.Namespace, s.Spec.Selector); slices.Contains(tracks, "canary") {
			add("Service %s selects canary pods but is no route's backend: its clients would reach the canary unweighed (select the stable track only, or mark it %s: replica-share)", s.Name, CanaryShareAnnotation)
		}
	}

	// The track on every series of the tracked pods.
	for _, d := range tracked {
		ok := false
		for _, o := range objs {
			pm, isPM := o.Obj.(*PodMonitoring)
			if !isPM || pm.Namespace != d.Namespace {
				continue
			}
			sel, err := metaSelector(&pm.Spec.Selector)
			if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) || pm.Spec.TargetLabels == nil {
				continue
			}
			for _, m := range pm.Spec.TargetLabels.FromPod {
				to := m.To
				if to == "" {
					to = m.From
				}
				ok = ok || (m.From == TrackLabel && to == TrackSeriesLabel)
			}
		}
		if !ok {
			add("Deployment %s (track %s): no PodMonitoring scrapes it with targetLabels.fromPod {from: %s, to: %s}: `vacunometro rollout --by track` could not tell its series from the other track's", d.Name, d.Spec.Template.Labels[TrackLabel], TrackLabel, TrackSeriesLabel)
		}
	}
	sort.Strings(v)
	return v
}

func backendNS(routeNS string, b gatewayv1.BackendRef) string {
	if b.Namespace != nil {
		return string(*b.Namespace)
	}
	return routeNS
}

func replicasString(r *int32) string {
	if r == nil {
		return "unset"
	}
	return fmt.Sprint(*r)
}

func portString(p *gatewayv1.PortNumber) string {
	if p == nil {
		return "(none given)"
	}
	return fmt.Sprint(*p)
}

// trackDiff compares a canary with its stable Deployment: the pod templates must be the same but
// for the container images and the name and track labels. It returns the differing paths.
func trackDiff(stable, canary *appsv1.Deployment) []string {
	norm := func(d *appsv1.Deployment) map[string]any {
		t := d.Spec.Template.DeepCopy()
		delete(t.Labels, nameLabel)
		delete(t.Labels, TrackLabel)
		for i := range t.Spec.Containers {
			t.Spec.Containers[i].Image = ""
		}
		for i := range t.Spec.InitContainers {
			t.Spec.InitContainers[i].Image = ""
		}
		b, _ := json.Marshal(t)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	var out []string
	diffJSON("template", norm(stable), norm(canary), &out)
	return out
}

func diffJSON(path string, a, b any, out *[]string) {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		var ks []string
		for k := range keys {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			diffJSON(path+"."+k, av[k], bv[k], out)
		}
		return
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			break
		}
		for i := range av {
			diffJSON(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i], out)
		}
		return
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		*out = append(*out, fmt.Sprintf("%s: %s (stable) vs %s (canary)", path, ja, jb))
	}
}
