package check

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ExternalSecrets are the Secrets the manifests may reference without defining them (they are
// created from Secret Manager, docs/deploy.md), with the keys that may be read from each.
var ExternalSecrets = map[string][]string{
	"vacunometro-secrets": {"ADMIN_TOKEN", "MONGODB_URI", "REDIS_URL"},
}

// Workload is a pod template with the object that owns it.
type Workload struct {
	Name      string // kind/namespace/name
	Namespace string
	Template  corev1.PodTemplateSpec
}

// Workloads returns the pod templates of every workload object.
func Workloads(objs []Object) []Workload {
	var ws []Workload
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			ws = append(ws, Workload{o.Name, v.Namespace, v.Spec.Template})
		case *appsv1.StatefulSet:
			ws = append(ws, Workload{o.Name, v.Namespace, v.Spec.Template})
		case *appsv1.DaemonSet:
			ws = append(ws, Workload{o.Name, v.Namespace, v.Spec.Template})
		case *appsv1.ReplicaSet:
			ws = append(ws, Workload{o.Name, v.Namespace, v.Spec.Template})
		case *batchv1.Job:
			ws = append(ws, Workload{o.Name, v.Namespace, v.Spec.Template})
		case *batchv1.CronJob:
			ws = append(ws, Workload{o.Name, v.Namespace, v.Spec.JobTemplate.Spec.Template})
		case *corev1.Pod:
			ws = append(ws, Workload{o.Name, v.Namespace, corev1.PodTemplateSpec{ObjectMeta: v.ObjectMeta, Spec: v.Spec}})
		}
	}
	return ws
}

var (
	secretName   = regexp.MustCompile(`(?i)(password|passwd|secret|token|credential|api_?key|private_?key|_uri$|^uri$|dsn)`)
	credentialIn = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@`)
	ipv4         = regexp.MustCompile(`\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b`)
)

// WorkloadPolicy returns every violation of the workload policy: resource requests and limits,
// liveness and readiness probes, non-root, read-only root filesystem, no privilege escalation,
// Linkerd injection, images with a tag other than latest, and secrets only through secretKeyRef.
func WorkloadPolicy(objs []Object) []string {
	var v []string
	add := func(format string, a ...any) { v = append(v, fmt.Sprintf(format, a...)) }
	for _, w := range Workloads(objs) {
		spec := w.Template.Spec
		if w.Template.Annotations["linkerd.io/inject"] != "enabled" {
			add("%s: pod template lacks annotation linkerd.io/inject: enabled", w.Name)
		}
		podNonRoot := spec.SecurityContext != nil && spec.SecurityContext.RunAsNonRoot != nil && *spec.SecurityContext.RunAsNonRoot
		if spec.SecurityContext != nil && spec.SecurityContext.RunAsUser != nil && *spec.SecurityContext.RunAsUser == 0 {
			add("%s: pod runs as user 0", w.Name)
		}
		if spec.HostNetwork || spec.HostPID || spec.HostIPC {
			add("%s: pod uses a host namespace", w.Name)
		}
		type ctr struct {
			c    corev1.Container
			init bool
		}
		var cs []ctr
		for _, c := range spec.InitContainers {
			cs = append(cs, ctr{c, true})
		}
		for _, c := range spec.Containers {
			cs = append(cs, ctr{c, false})
		}
		if len(spec.Containers) == 0 {
			add("%s: no containers", w.Name)
		}
		for _, c := range cs {
			where := w.Name + " container " + c.c.Name
			if _, err := ParseImageRef(c.c.Image); err != nil {
				add("%s: %v", where, err)
			}
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.c.Resources.Requests[res]; !ok {
					add("%s: no %s request", where, res)
				}
				if _, ok := c.c.Resources.Limits[res]; !ok {
					add("%s: no %s limit", where, res)
				}
			}
			if !c.init {
				if c.c.LivenessProbe == nil {
					add("%s: no liveness probe", where)
				}
				if c.c.ReadinessProbe == nil {
					add("%s: no readiness probe", where)
				}
			}
			sc := c.c.SecurityContext
			nonRoot := podNonRoot
			if sc != nil && sc.RunAsNonRoot != nil {
				nonRoot = *sc.RunAsNonRoot
			}
			if !nonRoot {
				add("%s: runAsNonRoot is not true (pod or container)", where)
			}
			if sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				add("%s: runs as user 0", where)
			}
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				add("%s: readOnlyRootFilesystem is not true", where)
			}
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				add("%s: allowPrivilegeEscalation is not false", where)
			}
			if sc != nil && sc.Privileged != nil && *sc.Privileged {
				add("%s: privileged", where)
			}
			for _, e := range c.c.Env {
				switch {
				case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
					ref := e.ValueFrom.SecretKeyRef
					keys, ok := ExternalSecrets[ref.Name]
					if ok && !slices.Contains(keys, ref.Key) {
						add("%s: env %s reads key %q of Secret %s, which is not one of %v", where, e.Name, ref.Key, ref.Name, keys)
					}
				case e.ValueFrom == nil && secretName.MatchString(e.Name):
					add("%s: env %s looks like a secret but has an inline value (use secretKeyRef)", where, e.Name)
				case e.ValueFrom != nil && secretName.MatchString(e.Name):
					add("%s: env %s looks like a secret but is not read from a Secret (use secretKeyRef)", where, e.Name)
				}
				if credentialIn.MatchString(e.Value) {
					add("%s: env %s holds a URL with credentials", where, e.Name)
				}
			}
		}
	}
	return v
}

// ConfigPolicy returns violations outside the workloads: Secrets with inline values, credentials
// in ConfigMaps, public addresses, and Services that would get one.
func ConfigPolicy(objs []Object) []string {
	var v []string
	add := func(format string, a ...any) { v = append(v, fmt.Sprintf(format, a...)) }
	for _, o := range objs {
		switch x := o.Obj.(type) {
		case *corev1.Secret:
			if len(x.Data) > 0 || len(x.StringData) > 0 {
				add("%s: inline Secret values in the manifests (create the Secret from Secret Manager instead)", o.Name)
			}
		case *corev1.ConfigMap:
			for k, val := range x.Data {
				if credentialIn.MatchString(val) {
					add("%s: key %s holds a URL with credentials", o.Name, k)
				}
				if secretName.MatchString(k) {
					add("%s: key %s looks like a secret; put it in the Secret", o.Name, k)
				}
			}
		case *corev1.Service:
			switch x.Spec.Type {
			case corev1.ServiceTypeNodePort:
				add("%s: NodePort service", o.Name)
			case corev1.ServiceTypeLoadBalancer:
				if x.Annotations["networking.gke.io/load-balancer-type"] != "Internal" {
					add("%s: LoadBalancer without networking.gke.io/load-balancer-type: Internal gets a public address", o.Name)
				}
				if len(x.Spec.LoadBalancerSourceRanges) == 0 {
					add("%s: LoadBalancer without loadBalancerSourceRanges", o.Name)
				}
			}
			if len(x.Spec.ExternalIPs) > 0 {
				add("%s: externalIPs set", o.Name)
			}
		case *networkingv1.NetworkPolicy:
			for _, r := range x.Spec.Ingress {
				for _, p := range r.From {
					if p.IPBlock != nil && strings.HasSuffix(p.IPBlock.CIDR, "/0") {
						add("%s: ingress from %s (anywhere)", o.Name, p.IPBlock.CIDR)
					}
				}
			}
		}
		for _, m := range ipv4.FindAllString(string(o.Raw), -1) {
			ip := net.ParseIP(m)
			if ip == nil || ip.IsPrivate() || ip.IsLoopback() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() {
				continue
			}
			add("%s: public address %s", o.Name, m)
		}
	}
	return v
}

type nsName struct{ ns, name string }

// CrossReferences returns references between rendered objects that point at nothing: Services
// whose selector matches no pod template or whose named targetPort no container declares, HPAs and
// PDBs without a target, HTTPRoutes whose parents or backends are not Services of this render,
// ConfigMaps, Secrets and ServiceAccounts that are neither rendered nor external.
func CrossReferences(objs []Object) []string {
	var v []string
	add := func(format string, a ...any) { v = append(v, fmt.Sprintf(format, a...)) }
	kinds := map[string]map[nsName]Object{}
	for _, o := range objs {
		if kinds[o.GVK.Kind] == nil {
			kinds[o.GVK.Kind] = map[nsName]Object{}
		}
		if m, ok := o.Obj.(interface {
			GetNamespace() string
			GetName() string
		}); ok {
			kinds[o.GVK.Kind][nsName{m.GetNamespace(), m.GetName()}] = o
		}
	}
	has := func(kind, ns, name string) bool { _, ok := kinds[kind][nsName{ns, name}]; return ok }
	ws := Workloads(objs)
	matching := func(ns string, sel labels.Selector) []Workload {
		var out []Workload
		for _, w := range ws {
			if w.Namespace == ns && sel.Matches(labels.Set(w.Template.Labels)) {
				out = append(out, w)
			}
		}
		return out
	}
	for _, o := range objs {
		switch x := o.Obj.(type) {
		case *corev1.Service:
			if len(x.Spec.Selector) == 0 {
				add("%s: no selector", o.Name)
				continue
			}
			ms := matching(x.Namespace, labels.SelectorFromSet(x.Spec.Selector))
			if len(ms) == 0 {
				add("%s: selector %v matches no pod template", o.Name, x.Spec.Selector)
				continue
			}
			for _, p := range x.Spec.Ports {
				if p.TargetPort.Type != intstr.String {
					continue
				}
				for _, w := range ms {
					if !declaresPort(w.Template.Spec, p.TargetPort.StrVal) {
						add("%s: targetPort %q is not a container port of %s", o.Name, p.TargetPort.StrVal, w.Name)
					}
				}
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			target, ok := kinds[x.Spec.ScaleTargetRef.Kind][nsName{x.Namespace, x.Spec.ScaleTargetRef.Name}]
			if !ok {
				add("%s: scale target %s/%s is not rendered", o.Name, x.Spec.ScaleTargetRef.Kind, x.Spec.ScaleTargetRef.Name)
			} else if d, ok := target.Obj.(*appsv1.Deployment); ok && d.Spec.Replicas != nil {
				add("%s: sets spec.replicas although %s scales it (every apply would reset the count)", target.Name, o.Name)
			}
		case *policyv1.PodDisruptionBudget:
			sel, err := metaSelector(x.Spec.Selector)
			if err != nil {
				add("%s: %v", o.Name, err)
			} else if len(matching(x.Namespace, sel)) == 0 {
				add("%s: selector matches no pod template", o.Name)
			}
		case *gatewayv1.HTTPRoute:
			for _, p := range x.Spec.ParentRefs {
				if p.Kind != nil && *p.Kind == "Service" {
					ns := x.Namespace
					if p.Namespace != nil {
						ns = string(*p.Namespace)
					}
					if !has("Service", ns, string(p.Name)) {
						add("%s: parent Service %s/%s is not rendered", o.Name, ns, p.Name)
					}
				}
			}
			total := int32(0)
			for i, r := range x.Spec.Rules {
				for _, b := range r.BackendRefs {
					w := int32(1)
					if b.Weight != nil {
						w = *b.Weight
					}
					total += w
					if b.Kind != nil && *b.Kind != "Service" {
						continue
					}
					ns := x.Namespace
					if b.Namespace != nil {
						ns = string(*b.Namespace)
					}
					svc, ok := kinds["Service"][nsName{ns, string(b.Name)}]
					if !ok {
						add("%s: rule %d backend Service %s/%s is not rendered", o.Name, i, ns, b.Name)
						continue
					}
					if b.Port != nil && !servicePort(svc.Obj.(*corev1.Service), int32(*b.Port)) {
						add("%s: rule %d backend %s has no port %d", o.Name, i, b.Name, *b.Port)
					}
				}
			}
			if total <= 0 {
				add("%s: the backend weights add up to %d", o.Name, total)
			}
		}
	}
	for _, w := range ws {
		spec := w.Template.Spec
		if sa := spec.ServiceAccountName; sa != "" && !has("ServiceAccount", w.Namespace, sa) {
			add("%s: service account %s is not rendered", w.Name, sa)
		}
		for _, vol := range spec.Volumes {
			if vol.ConfigMap != nil && !has("ConfigMap", w.Namespace, vol.ConfigMap.Name) {
				add("%s: volume %s: ConfigMap %s is not rendered", w.Name, vol.Name, vol.ConfigMap.Name)
			}
			if vol.Secret != nil && !has("Secret", w.Namespace, vol.Secret.SecretName) && ExternalSecrets[vol.Secret.SecretName] == nil {
				add("%s: volume %s: Secret %s is neither rendered nor external", w.Name, vol.Name, vol.Secret.SecretName)
			}
		}
		for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil && !has("ConfigMap", w.Namespace, ef.ConfigMapRef.Name) {
					add("%s container %s: envFrom ConfigMap %s is not rendered", w.Name, c.Name, ef.ConfigMapRef.Name)
				}
				if ef.SecretRef != nil && !has("Secret", w.Namespace, ef.SecretRef.Name) && ExternalSecrets[ef.SecretRef.Name] == nil {
					add("%s container %s: envFrom Secret %s is neither rendered nor external", w.Name, c.Name, ef.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil && !has("ConfigMap", w.Namespace, r.Name) {
					add("%s container %s: env %s: ConfigMap %s is not rendered", w.Name, c.Name, e.Name, r.Name)
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil && !has("Secret", w.Namespace, r.Name) && ExternalSecrets[r.Name] == nil {
					add("%s container %s: env %s: Secret %s is neither rendered nor external", w.Name, c.Name, e.Name, r.Name)
				}
			}
			for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
				if p != nil && p.HTTPGet != nil && p.HTTPGet.Port.Type == intstr.String && !declaresPort(spec, p.HTTPGet.Port.StrVal) {
					add("%s container %s: probe port %q is not declared", w.Name, c.Name, p.HTTPGet.Port.StrVal)
				}
			}
		}
	}
	sort.Strings(v)
	return v
}

func declaresPort(spec corev1.PodSpec, name string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

func servicePort(s *corev1.Service, port int32) bool {
	for _, p := range s.Spec.Ports {
		if p.Port == port {
			return true
		}
	}
	return false
}

func metaSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return nil, fmt.Errorf("no selector")
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return nil, fmt.Errorf("selector: %w", err)
	}
	return sel, nil
}
