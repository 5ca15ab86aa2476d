package check

import (
	"strings"
	"testing"
)

func TestReleaseTracksHoldForEveryOverlay(t *testing.T) {
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			objs := rendered(t, overlay)
			for _, v := range ReleasePolicy(objs) {
				t.Error(v)
			}
			n := 0
			for _, w := range Workloads(objs) {
				if w.Template.Labels[TrackLabel] == "canary" {
					n++
				}
			}
			if n != 3 {
				t.Errorf("overlay %s has %d canary workloads, want 3 (the gRPC server and both workers)", overlay, n)
			}
		})
	}
}

// releaseSample is the form the overlays now have, small: a stable and a canary gRPC server, the
// parent Service (stable only), one Service per track, the GRPCRoute between them, the HPA of the
// stable track and a PodMonitoring that copies the track onto the series.
const releaseSample = `apiVersion: apps/v1
kind: Deployment
metadata: {name: grpc-server, namespace: ns}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: grpc-server}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: grpc-server, app.kubernetes.io/component: grpc-server, vacunometro.io/track: stable}
    spec:
      containers:
        - name: grpc-server
          image: example.org/app:v1
          ports: [{name: grpc, containerPort: 50051}, {name: http-health, containerPort: 8081}]
          resources: {requests: {cpu: 500m}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: grpc-server-canary, namespace: ns}
spec:
  replicas: 0
  selector: {matchLabels: {app.kubernetes.io/name: grpc-server-canary}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: grpc-server-canary, app.kubernetes.io/component: grpc-server, vacunometro.io/track: canary}
    spec:
      containers:
        - name: grpc-server
          image: example.org/app:v2
          ports: [{name: grpc, containerPort: 50051}, {name: http-health, containerPort: 8081}]
          resources: {requests: {cpu: 500m}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: grpc-server, namespace: ns}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: grpc-server}
  maxReplicas: 3
---
apiVersion: v1
kind: Service
metadata: {name: grpc-server, namespace: ns}
spec:
  selector: {app.kubernetes.io/name: grpc-server}
  ports: [{name: grpc, port: 50051, targetPort: grpc, appProtocol: kubernetes.io/h2c}]
---
apiVersion: v1
kind: Service
metadata: {name: grpc-server-stable, namespace: ns}
spec:
  selector: {app.kubernetes.io/name: grpc-server}
  ports: [{name: grpc, port: 50051, targetPort: grpc, appProtocol: kubernetes.io/h2c}]
---
apiVersion: v1
kind: Service
metadata: {name: grpc-server-canary, namespace: ns}
spec:
  selector: {app.kubernetes.io/name: grpc-server-canary}
  ports: [{name: grpc, port: 50051, targetPort: grpc, appProtocol: kubernetes.io/h2c}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: grpc-server, namespace: ns}
spec:
  parentRefs: [{name: grpc-server, kind: Service, group: core, port: 50051}]
  rules:
    - backendRefs:
        - {name: grpc-server-stable, port: 50051, weight: 100}
        - {name: grpc-server-canary, port: 50051, weight: 0}
---
apiVersion: monitoring.googleapis.com/v1
kind: PodMonitoring
metadata: {name: backends, namespace: ns}
spec:
  selector: {matchLabels: {app.kubernetes.io/component: grpc-server}}
  endpoints: [{port: http-health, path: /metrics, interval: 15s}]
  targetLabels:
    fromPod: [{from: vacunometro.io/track, to: track}]
`

func TestReleasePolicyCatchesTheOldForms(t *testing.T) {
	if v := ReleasePolicy(decodeDocs(t, releaseSample)); len(v) != 0 {
		t.Fatalf("the good sample has problems: %v", v)
	}
	canaryDoc := releaseSample[strings.Index(releaseSample, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: grpc-server-canary"):strings.Index(releaseSample, "---\napiVersion: autoscaling/v2")]
	cases := []struct{ name, from, to, want string }{
		// The overlays before: one Deployment per tier, no track, the image applied to it at once.
		{"no canary and no track (the old form)", canaryDoc, "", "has no canary Deployment grpc-server-canary"},
		{"a released Deployment without a track", ", vacunometro.io/track: stable}", "}", "no vacunometro.io/track label: it is released unjudged"},
		// An overlay patch that reaches the stable track only (prod's resources patch, by name).
		{"canary resources differ", "          image: example.org/app:v2\n          ports: [{name: grpc, containerPort: 50051}, {name: http-health, containerPort: 8081}]\n          resources: {requests: {cpu: 500m}}",
			"          image: example.org/app:v2\n          ports: [{name: grpc, containerPort: 50051}, {name: http-health, containerPort: 8081}]\n          resources: {requests: {cpu: 250m}}", "template.spec.containers[0].resources.requests.cpu"},
		{"canary args differ", "        - name: grpc-server\n          image: example.org/app:v2\n", "        - name: grpc-server\n          image: example.org/app:v2\n          args: [grpc-server, --addr=:50052]\n", "template.spec.containers[0].args"},
		{"canary pods between releases", "  replicas: 0\n", "", "spec.replicas must be 0"},
		{"stable selector matches the canary", "  selector: {matchLabels: {app.kubernetes.io/name: grpc-server}}\n", "  selector: {matchLabels: {app.kubernetes.io/component: grpc-server}}\n", "also matches the pods of grpc-server-canary"},
		{"parent Service selects both tracks", "metadata: {name: grpc-server, namespace: ns}\nspec:\n  selector: {app.kubernetes.io/name: grpc-server}", "metadata: {name: grpc-server, namespace: ns}\nspec:\n  selector: {app.kubernetes.io/component: grpc-server}", "Service grpc-server selects canary pods but is no route's backend"},
		{"backend Service selects both tracks", "metadata: {name: grpc-server-stable, namespace: ns}\nspec:\n  selector: {app.kubernetes.io/name: grpc-server}", "metadata: {name: grpc-server-stable, namespace: ns}\nspec:\n  selector: {app.kubernetes.io/component: grpc-server}", "selects the pods of several tracks (canary, stable)"},
		{"HTTPRoute in front of gRPC", "kind: GRPCRoute", "kind: HTTPRoute", "weigh it with a GRPCRoute"},
		{"canary weighted in the manifests", "{name: grpc-server-canary, port: 50051, weight: 0}", "{name: grpc-server-canary, port: 50051, weight: 10}", "has weight 10 in the manifests"},
		{"backend without a weight", "{name: grpc-server-canary, port: 50051, weight: 0}", "{name: grpc-server-canary, port: 50051}", "no explicit weight"},
		{"backend on a port the Service lacks", "{name: grpc-server-stable, port: 50051, weight: 100}", "{name: grpc-server-stable, port: 8080, weight: 100}", "the Service has no port 8080"},
		{"backend Service not rendered", "{name: grpc-server-canary, port: 50051, weight: 0}", "{name: grpc-canary, port: 50051, weight: 0}", "backend Service grpc-canary is not rendered"},
		{"parent port missing", "group: core, port: 50051}]", "group: core, port: 50052}]", "parent Service grpc-server has no port 50052"},
		{"parent without a port", "group: core, port: 50051}]", "group: core}]", "has no port (the route would apply to every port"},
		{"no track on the series", "  targetLabels:\n    fromPod: [{from: vacunometro.io/track, to: track}]\n", "", "could not tell its series from the other track's"},
		{"the track under another name", "to: track}]", "to: release}]", "could not tell its series"},
		{"canary scaled by an HPA", "metadata: {name: grpc-server, namespace: ns}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: grpc-server}", "metadata: {name: grpc-server, namespace: ns}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: grpc-server-canary}", "is scaled by an HPA"},
	}
	t.Run("a Service marked replica-share may reach both tracks", func(t *testing.T) {
		s := strings.Replace(releaseSample, "metadata: {name: grpc-server, namespace: ns}\nspec:\n  selector: {app.kubernetes.io/name: grpc-server}",
			"metadata: {name: grpc-server, namespace: ns, annotations: {vacunometro.io/canary: replica-share}}\nspec:\n  selector: {app.kubernetes.io/component: grpc-server}", 1)
		if s == releaseSample {
			t.Fatal("case did not change the sample")
		}
		if v := ReleasePolicy(decodeDocs(t, s)); len(v) != 0 {
			t.Errorf("problems %q", v)
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(releaseSample, c.from, c.to, 1)
			if bad == releaseSample {
				t.Fatalf("case did not change the sample (%q not found)", c.from)
			}
			if v := ReleasePolicy(decodeDocs(t, bad)); !containsSubstring(v, c.want) {
				t.Errorf("problems %q do not mention %q", v, c.want)
			}
		})
	}
}
