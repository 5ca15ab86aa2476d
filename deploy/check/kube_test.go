package check

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

var overlays = []string{"dev", "prod"}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func decoder(t *testing.T) *StrictDecoder {
	t.Helper()
	d, err := NewStrictDecoder()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// rendered renders and strictly decodes an overlay, failing the test on any error.
func rendered(t *testing.T, overlay string) []Object {
	t.Helper()
	out, err := Render(filepath.Join(repoRoot(t), "cluster", "overlays", overlay))
	if err != nil {
		t.Fatal(err)
	}
	objs, errs := decoder(t).DecodeAll(out)
	for _, err := range errs {
		t.Errorf("overlay %s: %v", overlay, err)
	}
	if len(objs) == 0 {
		t.Fatalf("overlay %s rendered no objects", overlay)
	}
	return objs
}

func find[T any](objs []Object, name string) (T, bool) {
	for _, o := range objs {
		if v, ok := o.Obj.(T); ok {
			if m, ok := o.Obj.(interface{ GetName() string }); ok && m.GetName() == name {
				return v, true
			}
		}
	}
	var zero T
	return zero, false
}

func TestOverlaysRenderAndDecodeStrictly(t *testing.T) {
	wantWorkloads := []string{"grpc-server", "worker-redis", "worker-pubsub", "ingest-grpc", "ingest-redis", "ingest-pubsub"}
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			objs := rendered(t, overlay)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.GVK.Kind]++
				if m, ok := o.Obj.(interface{ GetNamespace() string }); ok && o.GVK.Kind != "Namespace" && m.GetNamespace() != "vacunometro" {
					t.Errorf("%s: namespace %q, want vacunometro", o.Name, m.GetNamespace())
				}
			}
			for _, k := range []string{"Namespace", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "ConfigMap", "HTTPRoute"} {
				if kinds[k] == 0 {
					t.Errorf("overlay %s renders no %s", overlay, k)
				}
			}
			for _, name := range wantWorkloads {
				if _, ok := find[*appsv1.Deployment](objs, name); !ok {
					t.Errorf("overlay %s has no Deployment %s", overlay, name)
				}
			}
			t.Logf("overlay %s: %d objects decoded strictly: %v", overlay, len(objs), kinds)
		})
	}
}

// TestKubectlKustomizeAgrees renders each overlay with the kubectl on PATH too: the in-process
// render must be what `kubectl kustomize` produces.
func TestKubectlKustomizeAgrees(t *testing.T) {
	requireTool(t, "kubectl", "the overlays were rendered in-process only (TestOverlaysRenderAndDecodeStrictly)")
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			dir := filepath.Join(repoRoot(t), "cluster", "overlays", overlay)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			viaKubectl, err := RenderKubectl(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			inProcess, err := Render(dir)
			if err != nil {
				t.Fatal(err)
			}
			a, b := canonicalDocs(t, viaKubectl), canonicalDocs(t, inProcess)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("kubectl kustomize and the in-process render differ:\nkubectl:    %d docs\nin-process: %d docs", len(a), len(b))
			}
		})
	}
}

func canonicalDocs(t *testing.T, stream []byte) []string {
	t.Helper()
	docs, err := SplitYAML(stream)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range docs {
		var v any
		if err := yaml.Unmarshal(d, &v); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

func TestWorkloadPolicyHoldsForEveryOverlay(t *testing.T) {
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			objs := rendered(t, overlay)
			ws := Workloads(objs)
			if len(ws) < 6 {
				t.Fatalf("only %d workloads in %s", len(ws), overlay)
			}
			for _, v := range WorkloadPolicy(objs) {
				t.Error(v)
			}
			for _, v := range ConfigPolicy(objs) {
				t.Error(v)
			}
			for _, v := range CrossReferences(objs) {
				t.Error(v)
			}
		})
	}
}

// The "redis" route answers 202 once XADD returned: the dev Redis must fsync every write.
func TestDevRedisFsyncsEveryWrite(t *testing.T) {
	objs := rendered(t, "dev")
	cm, ok := find[*corev1.ConfigMap](objs, "redis-config")
	if !ok {
		t.Fatal("dev overlay has no ConfigMap redis-config")
	}
	conf := map[string]string{}
	for _, line := range strings.Split(cm.Data["redis.conf"], "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			conf[f[0]] = strings.Join(f[1:], " ")
		}
	}
	if conf["appendonly"] != "yes" || conf["appendfsync"] != "always" {
		t.Errorf("redis.conf has appendonly=%q appendfsync=%q, want yes and always", conf["appendonly"], conf["appendfsync"])
	}
	ss, ok := find[*appsv1.StatefulSet](objs, "redis")
	if !ok {
		t.Fatal("dev overlay has no StatefulSet redis")
	}
	c := ss.Spec.Template.Spec.Containers[0]
	if !slices.Contains(append(slices.Clone(c.Command), c.Args...), "/etc/redis/redis.conf") {
		t.Errorf("redis does not start with /etc/redis/redis.conf: command %v args %v", c.Command, c.Args)
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || m.MountPath == "/etc/redis"
	}
	if !mounted || len(ss.Spec.VolumeClaimTemplates) == 0 {
		t.Errorf("redis needs its config at /etc/redis and a persistent volume for the AOF (mounted=%v, claims=%d)", mounted, len(ss.Spec.VolumeClaimTemplates))
	}
}

// Each in-cluster ingest variant carries one route, and the HTTPRoute weighs exactly those variants.
func TestTrafficSplitVariants(t *testing.T) {
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			objs := rendered(t, overlay)
			route, ok := find[*gatewayv1.HTTPRoute](objs, "ingest")
			if !ok {
				t.Fatal("no HTTPRoute ingest")
			}
			var backends []string
			for _, r := range route.Spec.Rules {
				for _, b := range r.BackendRefs {
					backends = append(backends, string(b.Name))
				}
			}
			want := []string{"ingest-grpc", "ingest-redis", "ingest-pubsub"}
			if !slices.Equal(backends, want) {
				t.Errorf("HTTPRoute backends %v, want %v", backends, want)
			}
			for _, name := range want {
				d, ok := find[*appsv1.Deployment](objs, name)
				if !ok {
					t.Errorf("no Deployment %s", name)
					continue
				}
				route := strings.TrimPrefix(name, "ingest-")
				split := ""
				for _, e := range d.Spec.Template.Spec.Containers[0].Env {
					if e.Name == "SPLIT" {
						split = e.Value
					}
				}
				if split != route+"=100" {
					t.Errorf("%s: SPLIT=%q, want %s=100", name, split, route)
				}
			}
		})
	}
}

// The gRPC server is reachable from Cloud Run's Direct VPC egress subnet only, on the internal
// address Terraform reserves; the manifests and Terraform must name the same subnet and address.
func TestProdGRPCLoadBalancerMatchesTerraform(t *testing.T) {
	objs := rendered(t, "prod")
	tf, diags := LoadTerraform(filepath.Join(repoRoot(t), "infra"))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	cidr, ok := tf.VariableDefault("run_subnet_cidr")
	if !ok {
		t.Fatal("infra declares no default for var.run_subnet_cidr")
	}
	addrName, ok := tf.ResourceAttrString("google_compute_address", "grpc_ilb", "name")
	if !ok {
		t.Fatal("infra has no google_compute_address.grpc_ilb with a literal name")
	}
	svc, ok := find[*corev1.Service](objs, "grpc-server-ilb")
	if !ok {
		t.Fatal("prod has no Service grpc-server-ilb")
	}
	if got := svc.Annotations["networking.gke.io/load-balancer-ip-addresses"]; got != addrName {
		t.Errorf("grpc-server-ilb claims address %q, Terraform reserves %q", got, addrName)
	}
	if !slices.Equal(svc.Spec.LoadBalancerSourceRanges, []string{cidr}) {
		t.Errorf("grpc-server-ilb loadBalancerSourceRanges %v, want [%s]", svc.Spec.LoadBalancerSourceRanges, cidr)
	}
	np, ok := find[*networkingv1.NetworkPolicy](objs, "grpc-server-from-cloud-run")
	if !ok {
		t.Fatal("prod has no NetworkPolicy grpc-server-from-cloud-run")
	}
	got := ""
	if len(np.Spec.Ingress) > 0 && len(np.Spec.Ingress[0].From) > 0 && np.Spec.Ingress[0].From[0].IPBlock != nil {
		got = np.Spec.Ingress[0].From[0].IPBlock.CIDR
	}
	if got != cidr {
		t.Errorf("NetworkPolicy allows %q, Terraform's Cloud Run subnet is %q", got, cidr)
	}
}

// --- the checkers catch bad input

const goodDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: vacunometro}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {linkerd.io/inject: enabled}
    spec:
      securityContext: {runAsNonRoot: true}
      containers:
        - name: web
          image: example.org/web:v1
          ports: [{name: http, containerPort: 8080}]
          resources: {requests: {cpu: 10m, memory: 10Mi}, limits: {cpu: 100m, memory: 100Mi}}
          livenessProbe: {httpGet: {path: /healthz, port: http}}
          readinessProbe: {httpGet: {path: /readyz, port: http}}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true}
          env:
            - name: ADMIN_TOKEN
              valueFrom: {secretKeyRef: {name: vacunometro-secrets, key: ADMIN_TOKEN}}
`

func decodeDocs(t *testing.T, stream string) []Object {
	t.Helper()
	objs, errs := decoder(t).DecodeAll([]byte(stream))
	for _, err := range errs {
		t.Fatal(err)
	}
	return objs
}

func TestStrictDecodeRejectsUnknownFields(t *testing.T) {
	d := decoder(t)
	if _, err := d.Decode([]byte(goodDeployment)); err != nil {
		t.Fatalf("the good deployment does not decode: %v", err)
	}
	cases := []struct{ name, doc string }{
		{"unknown field in a container", strings.Replace(goodDeployment, "image: example.org/web:v1", "image: example.org/web:v1\n          imagePullPolice: Always", 1)},
		{"field at the wrong level", strings.Replace(goodDeployment, "  selector:", "  replicas: 2\n  minReadySeconds: 1\n  readinessProbe: {}\n  selector:", 1)},
		{"misspelled HTTPRoute weight", `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  rules:
    - backendRefs:
        - {name: a, port: 80, wieght: 10}
`},
		{"kind the scheme does not know", "apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata: {name: s}\nspec: {service: x}\n"},
		{"wrong type", strings.Replace(goodDeployment, "containerPort: 8080", "containerPort: http", 1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := d.Decode([]byte(c.doc)); err == nil {
				t.Error("decoded without error")
			} else {
				t.Logf("rejected: %v", err)
			}
		})
	}
}

func TestWorkloadPolicyCatchesEachViolation(t *testing.T) {
	if v := WorkloadPolicy(decodeDocs(t, goodDeployment)); len(v) != 0 {
		t.Fatalf("the good deployment has violations: %v", v)
	}
	cases := []struct{ name, from, to, want string }{
		{"latest tag", "example.org/web:v1", "example.org/web:latest", "uses the tag latest"},
		{"no tag", "example.org/web:v1", "example.org/web", "no tag or digest"},
		{"no limits", "limits: {cpu: 100m, memory: 100Mi}", "limits: {cpu: 100m}", "no memory limit"},
		{"no requests", "requests: {cpu: 10m, memory: 10Mi}, ", "", "no cpu request"},
		{"no liveness probe", "livenessProbe: {httpGet: {path: /healthz, port: http}}", "startupProbe: {httpGet: {path: /healthz, port: http}}", "no liveness probe"},
		{"no readiness probe", "readinessProbe:", "startupProbe:", "no readiness probe"},
		{"root", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot is not true"},
		{"writable root fs", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem is not true"},
		{"privilege escalation", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation is not false"},
		{"no linkerd", "linkerd.io/inject: enabled", "linkerd.io/inject: disabled", "linkerd.io/inject"},
		{"inline secret", "valueFrom: {secretKeyRef: {name: vacunometro-secrets, key: ADMIN_TOKEN}}", "value: hunter2", "inline value"},
		{"secret from a ConfigMap", "secretKeyRef: {name: vacunometro-secrets, key: ADMIN_TOKEN}", "configMapKeyRef: {name: cfg, key: ADMIN_TOKEN}", "not read from a Secret"},
		{"unknown key of the external Secret", "key: ADMIN_TOKEN}", "key: ROOT_PASSWORD}", "not one of"},
		{"credentials in a URL", "            - name: ADMIN_TOKEN\n              valueFrom: {secretKeyRef: {name: vacunometro-secrets, key: ADMIN_TOKEN}}", "            - name: CACHE\n              value: " + credURL("redis", "cache:6379"), "URL with credentials"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(goodDeployment, c.from, c.to, 1)
			if bad == goodDeployment {
				t.Fatalf("case did not change the manifest (%q not found)", c.from)
			}
			v := WorkloadPolicy(decodeDocs(t, bad))
			if !containsSubstring(v, c.want) {
				t.Errorf("violations %q do not mention %q", v, c.want)
			}
		})
	}
}

func TestConfigPolicyCatchesEachViolation(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"inline secret", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {MONGODB_URI: x}\n", "inline Secret values"},
		{"public load balancer", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer, selector: {a: b}, ports: [{port: 80}]}\n", "public address"},
		{"node port", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: NodePort, selector: {a: b}, ports: [{port: 80}]}\n", "NodePort"},
		{"credentials in a ConfigMap", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {DB: '" + credURL("mongodb", "db:27017") + "'}\n", "URL with credentials"},
		{"secret key in a ConfigMap", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {ADMIN_TOKEN: abc}\n", "looks like a secret"},
		{"public IP", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {GRPC_SERVER_ADDRESS: '34.123.45.67:50051'}\n", "public address 34.123.45.67"},
		{"open to the world", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np}\nspec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}]}]}\n", "anywhere"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := ConfigPolicy(decodeDocs(t, c.doc))
			if !containsSubstring(v, c.want) {
				t.Errorf("violations %q do not mention %q", v, c.want)
			}
		})
	}
	private := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {A: '10.20.0.0/26', B: '127.0.0.1:6379'}\n"
	if v := ConfigPolicy(decodeDocs(t, private)); len(v) != 0 {
		t.Errorf("private addresses flagged: %v", v)
	}
}

func TestCrossReferencesCatchDanglingReferences(t *testing.T) {
	svc := "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: vacunometro}\nspec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}\n"
	if v := CrossReferences(decodeDocs(t, goodDeployment+"---\n"+svc)); len(v) != 0 {
		t.Fatalf("good pair has dangling references: %v", v)
	}
	cases := []struct{ name, extra, want string }{
		{"service selects nothing", strings.Replace(svc, "app: web", "app: webb", 1), "matches no pod template"},
		{"unknown target port", strings.Replace(svc, "targetPort: http", "targetPort: https", 1), `targetPort "https"`},
		{"hpa without target", svc + "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h, namespace: vacunometro}\nspec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: wbe}, maxReplicas: 2}\n", "scale target Deployment/wbe"},
		{"replicas under an hpa", "", "sets spec.replicas although"},
		{"pdb selects nothing", svc + "---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: p, namespace: vacunometro}\nspec: {maxUnavailable: 1, selector: {matchLabels: {app: nope}}}\n", "selector matches no pod template"},
		{"route to a missing backend", svc + "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: vacunometro}\nspec:\n  parentRefs: [{name: web, kind: Service, group: core, port: 80}]\n  rules: [{backendRefs: [{name: web, port: 80, weight: 50}, {name: web-canary, port: 80, weight: 50}]}]\n", "web-canary is not rendered"},
		{"route with zero weights", svc + "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: vacunometro}\nspec:\n  rules: [{backendRefs: [{name: web, port: 80, weight: 0}]}]\n", "add up to 0"},
		{"route to a wrong port", svc + "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: vacunometro}\nspec:\n  rules: [{backendRefs: [{name: web, port: 8080}]}]\n", "has no port 8080"},
		{"missing config map", strings.Replace(svc, "", "", 1) + "---\n" + strings.Replace(goodDeployment, "name: web\n          image", "name: web\n          envFrom: [{configMapRef: {name: nothere}}]\n          image", 1), "ConfigMap nothere is not rendered"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			docs := goodDeployment + "---\n" + c.extra
			if c.name == "replicas under an hpa" {
				docs = strings.Replace(goodDeployment, "spec:\n  selector:", "spec:\n  replicas: 3\n  selector:", 1) + "---\n" + svc +
					"---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h, namespace: vacunometro}\nspec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, maxReplicas: 2}\n"
			}
			v := CrossReferences(decodeDocs(t, docs))
			if !containsSubstring(v, c.want) {
				t.Errorf("problems %q do not mention %q", v, c.want)
			}
		})
	}
}

func TestRenderFailsOnBrokenKustomization(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources: [missing.yaml]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Render(dir); err == nil {
		t.Error("a kustomization with a missing resource rendered")
	}
	if _, err := exec.LookPath("kubectl"); err == nil {
		if _, err := RenderKubectl(context.Background(), dir); err == nil {
			t.Error("kubectl kustomize rendered a kustomization with a missing resource")
		}
	} else if !errors.Is(err, exec.ErrNotFound) {
		t.Fatal(err)
	}
}

func containsSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// credURL assembles a URL with user information at run time: the checks
// must be shown credentials to refuse, but the tree holds no
// credential-shaped literal (internal/secretscan, and scanners like it).
func credURL(scheme, host string) string {
	user, pass := "user", "pw"
	return scheme + "://" + user + ":" + pass + "@" + host
}

// requireTool returns the path of a command the test runs. When it is not
// installed the test is skipped, saying what was not checked, and under CI
// (where .ci/run installs everything) it fails instead.
func requireTool(t *testing.T, name, notChecked string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not on PATH, and CI must run every check: %s", name, notChecked)
		}
		t.Skipf("%s is not on PATH: %s", name, notChecked)
	}
	return path
}
