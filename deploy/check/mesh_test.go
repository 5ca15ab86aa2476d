package check

import (
	"strings"
	"testing"
)

// metricsPorts are the container ports on which the binary serves /metrics (HEALTH_ADDR on the
// GKE backends, the HTTP port of the ingest variants).
var metricsPorts = []string{"http-health", "http"}

func TestMeshPolicyAndMetricsHoldForEveryOverlay(t *testing.T) {
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			objs := rendered(t, overlay)
			for _, v := range MeshPolicy(objs) {
				t.Error(v)
			}
			for _, v := range MetricsCollected(objs, metricsPorts) {
				t.Error(v)
			}
			n := 0
			for _, o := range objs {
				if _, ok := o.Obj.(*PodMonitoring); ok {
					n++
				}
			}
			if n == 0 {
				t.Errorf("overlay %s renders no PodMonitoring", overlay)
			}
		})
	}
}

// meshSample is a meshed namespace with a server scaled by CPU, a NetworkPolicy for meshed and
// unmeshed clients and a PodMonitoring: the form the overlays now have.
const meshSample = `apiVersion: v1
kind: Namespace
metadata:
  name: ns
  annotations: {linkerd.io/inject: enabled}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: srv, namespace: ns}
spec:
  selector: {matchLabels: {app: srv}}
  template:
    metadata:
      labels: {app: srv, tier: backend}
      annotations:
        config.linkerd.io/proxy-cpu-request: 50m
        config.linkerd.io/proxy-memory-request: 32Mi
    spec:
      containers:
        - name: srv
          image: example.org/srv:v1
          ports:
            - {name: grpc, containerPort: 50051}
            - {name: http-health, containerPort: 8081}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: srv, namespace: ns}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: srv}
  maxReplicas: 3
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: srv-from-clients, namespace: ns}
spec:
  podSelector: {matchLabels: {app: srv}}
  policyTypes: ["Ingress"]
  ingress:
    - from:
        - podSelector: {matchLabels: {app: client}}
      ports:
        - {protocol: TCP, port: 4143}
        - {protocol: TCP, port: 50051}
    - from:
        - ipBlock: {cidr: 10.20.0.0/24}
      ports:
        - {protocol: TCP, port: 50051}
    - from:
        - namespaceSelector:
            matchExpressions:
              - {key: kubernetes.io/metadata.name, operator: In, values: ["gmp-system"]}
      ports:
        - {protocol: TCP, port: 8081}
---
apiVersion: monitoring.googleapis.com/v1
kind: PodMonitoring
metadata: {name: srv, namespace: ns}
spec:
  selector: {matchLabels: {tier: backend}}
  endpoints:
    - {port: http-health, path: /metrics, interval: 15s}
`

func TestMeshPolicyCatchesTheOldForms(t *testing.T) {
	if v := MeshPolicy(decodeDocs(t, meshSample)); len(v) != 0 {
		t.Fatalf("the good sample has problems: %v", v)
	}
	if v := MetricsCollected(decodeDocs(t, meshSample), metricsPorts); len(v) != 0 {
		t.Fatalf("the good sample has uncollected metrics: %v", v)
	}
	cases := []struct {
		name, from, to string
		check          func([]Object) []string
		want           string
	}{
		// The overlays before: meshed clients admitted on the app port only.
		{"meshed clients on the app port only", "        - {protocol: TCP, port: 4143}\n", "", MeshPolicy, "not on Linkerd's inbound port 4143"},
		{"all namespaces on the app port only", "        - podSelector: {matchLabels: {app: client}}\n      ports:\n        - {protocol: TCP, port: 4143}\n", "        - namespaceSelector: {}\n      ports:\n", MeshPolicy, "ingress rule 0"},
		// The overlays before: a CPU HPA and no proxy request.
		{"HPA without proxy CPU request", "        config.linkerd.io/proxy-cpu-request: 50m\n", "", MeshPolicy, "config.linkerd.io/proxy-cpu-request"},
		// The overlays before: Managed Prometheus on, nothing selected.
		{"no PodMonitoring", "selector: {matchLabels: {tier: backend}}", "selector: {matchLabels: {tier: nothing}}", func(o []Object) []string { return MetricsCollected(o, metricsPorts) }, "no PodMonitoring scrapes it"},
		{"PodMonitoring on an undeclared port", "{port: http-health, path", "{port: metrics, path", func(o []Object) []string { return MetricsCollected(o, metricsPorts) }, `endpoint port "metrics" is not a container port`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(meshSample, c.from, c.to, 1)
			if bad == meshSample {
				t.Fatalf("case did not change the sample (%q not found)", c.from)
			}
			if v := c.check(decodeDocs(t, bad)); !containsSubstring(v, c.want) {
				t.Errorf("problems %q do not mention %q", v, c.want)
			}
		})
	}
	t.Run("unmeshed pods need no proxy port", func(t *testing.T) {
		s := strings.Replace(meshSample, "annotations: {linkerd.io/inject: enabled}", "annotations: {}", 1)
		s = strings.Replace(s, "        - {protocol: TCP, port: 4143}\n", "", 1)
		if v := MeshPolicy(decodeDocs(t, s)); len(v) != 0 {
			t.Errorf("unmeshed sample flagged: %v", v)
		}
	})
	t.Run("PodMonitoring decodes strictly", func(t *testing.T) {
		s := strings.Replace(meshSample, "interval: 15s}", "intervall: 15s}", 1)
		if _, errs := decoder(t).DecodeAll([]byte(s)); len(errs) == 0 {
			t.Error("a misspelled PodMonitoring field decoded")
		}
	})
}
