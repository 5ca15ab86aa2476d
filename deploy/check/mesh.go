package check

import (
	"fmt"
	"slices"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// LinkerdInboundPort is the port on which a meshed pod's proxy receives traffic from other meshed
// pods: the client's proxy replaces the original target port with it, so a NetworkPolicy that
// admits only the app port drops all meshed traffic
// (https://linkerd.io/2/common-errors/network-policy/).
const LinkerdInboundPort = 4143

// UnmeshedNamespaces are namespaces whose pods carry no Linkerd proxy (they connect to the app
// ports directly): Linkerd's own control plane and the Prometheus collectors.
var UnmeshedNamespaces = []string{"linkerd", "linkerd-viz", "gmp-system", "gmp-public", "monitoring", "kube-system"}

// Proxy resource annotations. Linkerd's proxy has no requests by default; a Resource-metric HPA
// computes utilization over every container's request and, with one missing, never scales
// (https://linkerd.io/2/reference/proxy-configuration/,
// https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#support-for-resource-metrics).
var proxyRequestAnnotation = map[corev1.ResourceName]string{
	corev1.ResourceCPU:    "config.linkerd.io/proxy-cpu-request",
	corev1.ResourceMemory: "config.linkerd.io/proxy-memory-request",
}

// meshedNamespaces returns the rendered namespaces annotated linkerd.io/inject: enabled.
func meshedNamespaces(objs []Object) map[string]bool {
	m := map[string]bool{}
	for _, o := range objs {
		if ns, ok := o.Obj.(*corev1.Namespace); ok && ns.Annotations["linkerd.io/inject"] == "enabled" {
			m[ns.Name] = true
		}
	}
	return m
}

func meshedTemplate(t corev1.PodTemplateSpec, ns string, meshedNS map[string]bool) bool {
	switch t.Annotations["linkerd.io/inject"] {
	case "enabled":
		return true
	case "disabled":
		return false
	}
	return meshedNS[ns]
}

// peerMayBeMeshed reports whether a NetworkPolicy peer admits pods that may carry a proxy: an
// ipBlock never does (Cloud Run, load balancers), a namespace selector naming only unmeshed
// namespaces does not, anything else in the cluster may.
func peerMayBeMeshed(p networkingv1.NetworkPolicyPeer) bool {
	if p.IPBlock != nil {
		return false
	}
	if p.NamespaceSelector != nil && len(p.NamespaceSelector.MatchLabels) == 0 && len(p.NamespaceSelector.MatchExpressions) == 1 {
		e := p.NamespaceSelector.MatchExpressions[0]
		if e.Key == "kubernetes.io/metadata.name" && e.Operator == metav1.LabelSelectorOpIn {
			for _, v := range e.Values {
				if !slices.Contains(UnmeshedNamespaces, v) {
					return true
				}
			}
			return false
		}
	}
	return true
}

// MeshPolicy returns what breaks once Linkerd injects its proxy: NetworkPolicy rules that admit
// in-cluster (possibly meshed) sources to meshed pods on app ports but not on the proxy's inbound
// port, and Resource-metric HPAs on meshed workloads whose proxy has no request for that resource.
func MeshPolicy(objs []Object) []string {
	var v []string
	add := func(format string, a ...any) { v = append(v, fmt.Sprintf(format, a...)) }
	meshedNS := meshedNamespaces(objs)
	ws := Workloads(objs)
	for _, o := range objs {
		switch x := o.Obj.(type) {
		case *networkingv1.NetworkPolicy:
			sel, err := metav1.LabelSelectorAsSelector(&x.Spec.PodSelector)
			if err != nil {
				add("%s: pod selector: %v", o.Name, err)
				continue
			}
			targetsMeshed := false
			for _, w := range ws {
				if w.Namespace == x.Namespace && sel.Matches(labels.Set(w.Template.Labels)) && meshedTemplate(w.Template, w.Namespace, meshedNS) {
					targetsMeshed = true
				}
			}
			if !targetsMeshed {
				continue
			}
			for i, r := range x.Spec.Ingress {
				if len(r.Ports) == 0 {
					continue // every port
				}
				meshedSource := len(r.From) == 0
				for _, p := range r.From {
					if peerMayBeMeshed(p) {
						meshedSource = true
					}
				}
				if !meshedSource {
					continue
				}
				open := false
				for _, p := range r.Ports {
					if p.Port == nil {
						open = true
						continue
					}
					lo, hi := p.Port.IntVal, p.Port.IntVal
					if p.EndPort != nil {
						hi = *p.EndPort
					}
					if p.Port.StrVal == "linkerd-proxy" || (lo <= LinkerdInboundPort && LinkerdInboundPort <= hi) {
						open = true
					}
				}
				if !open {
					add("%s: ingress rule %d admits in-cluster sources to meshed pods on %s but not on Linkerd's inbound port %d: all meshed traffic is dropped", o.Name, i, portList(r.Ports), LinkerdInboundPort)
				}
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			var tmpl *corev1.PodTemplateSpec
			for _, t := range objs {
				if d, ok := t.Obj.(*appsv1.Deployment); ok && x.Spec.ScaleTargetRef.Kind == "Deployment" && d.Namespace == x.Namespace && d.Name == x.Spec.ScaleTargetRef.Name {
					tmpl = &d.Spec.Template
				}
			}
			if tmpl == nil || !meshedTemplate(*tmpl, x.Namespace, meshedNS) {
				continue
			}
			for _, m := range x.Spec.Metrics {
				if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil {
					continue
				}
				ann, ok := proxyRequestAnnotation[m.Resource.Name]
				if !ok {
					continue
				}
				if tmpl.Annotations[ann] == "" {
					add("%s: scales on %s utilization of a meshed pod whose Linkerd proxy has no %s request: set the pod annotation %s (or use a ContainerResource metric)", o.Name, m.Resource.Name, m.Resource.Name, ann)
				}
			}
		}
	}
	sort.Strings(v)
	return v
}

func portList(ps []networkingv1.NetworkPolicyPort) string {
	var s []string
	for _, p := range ps {
		if p.Port != nil {
			s = append(s, p.Port.String())
		}
	}
	return fmt.Sprint(s)
}

// MetricsCollected returns workloads whose /metrics no PodMonitoring scrapes: every Deployment that
// declares one of metricsPorts must be selected by a PodMonitoring with an endpoint on a port the
// pod declares, and every PodMonitoring must select a pod and name a declared port.
func MetricsCollected(objs []Object, metricsPorts []string) []string {
	var v []string
	add := func(format string, a ...any) { v = append(v, fmt.Sprintf(format, a...)) }
	type pm struct {
		o   Object
		x   *PodMonitoring
		sel labels.Selector
	}
	var pms []pm
	for _, o := range objs {
		if x, ok := o.Obj.(*PodMonitoring); ok {
			sel, err := metav1.LabelSelectorAsSelector(&x.Spec.Selector)
			if err != nil {
				add("%s: selector: %v", o.Name, err)
				continue
			}
			if len(x.Spec.Endpoints) == 0 {
				add("%s: no endpoints", o.Name)
			}
			pms = append(pms, pm{o, x, sel})
		}
	}
	ws := Workloads(objs)
	for _, p := range pms {
		n := 0
		for _, w := range ws {
			if w.Namespace != p.x.Namespace || !p.sel.Matches(labels.Set(w.Template.Labels)) {
				continue
			}
			n++
			for _, e := range p.x.Spec.Endpoints {
				if !declaresPort(w.Template.Spec, e.Port) && !declaresPortNumber(w.Template.Spec, e.Port) {
					add("%s: endpoint port %q is not a container port of %s", p.o.Name, e.Port, w.Name)
				}
			}
		}
		if n == 0 {
			add("%s: selects no pod template", p.o.Name)
		}
	}
	for _, w := range ws {
		if _, ok := objsDeployment(objs, w.Name); !ok {
			continue
		}
		var exposes []string
		for _, port := range metricsPorts {
			if declaresPort(w.Template.Spec, port) {
				exposes = append(exposes, port)
			}
		}
		if len(exposes) == 0 {
			continue
		}
		scraped := false
		for _, p := range pms {
			if p.x.Namespace != w.Namespace || !p.sel.Matches(labels.Set(w.Template.Labels)) {
				continue
			}
			for _, e := range p.x.Spec.Endpoints {
				if slices.Contains(exposes, e.Port) {
					scraped = true
				}
			}
		}
		if !scraped {
			add("%s: serves /metrics on %v but no PodMonitoring scrapes it (Managed Prometheus collects nothing)", w.Name, exposes)
		}
	}
	sort.Strings(v)
	return v
}

func objsDeployment(objs []Object, name string) (*appsv1.Deployment, bool) {
	for _, o := range objs {
		if d, ok := o.Obj.(*appsv1.Deployment); ok && o.Name == name {
			return d, true
		}
	}
	return nil, false
}

func declaresPortNumber(spec corev1.PodSpec, port string) bool {
	n, err := strconv.Atoi(port)
	if err != nil {
		return false
	}
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if int(p.ContainerPort) == n {
				return true
			}
		}
	}
	return false
}
