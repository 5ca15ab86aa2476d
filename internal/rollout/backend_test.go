package rollout

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vacunometro/vacunometro/internal/split"
)

func TestLocalBackend(t *testing.T) {
	h := newIngest(t, "", split.Weights{"grpc": 34, "redis": 33, "pubsub": 33})
	b := &Local{Target: h.URL, Token: h.Token}
	w, err := b.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := (split.Weights{"grpc": 34, "redis": 33, "pubsub": 33}); !reflect.DeepEqual(w, want) {
		t.Errorf("Get = %v, want %v", w, want)
	}
	next := split.Weights{"grpc": 25, "redis": 38, "pubsub": 37}
	if err := b.Set(t.Context(), next); err != nil {
		t.Fatal(err)
	}
	if got := h.split.Weights(); !reflect.DeepEqual(got, next) {
		t.Errorf("the ingest's split is %v after Set(%v)", got, next)
	}
	// A wrong token changes nothing and says what to do.
	bad := &Local{Target: h.URL, Token: "wrong"}
	err = bad.Set(t.Context(), split.Weights{"grpc": 100, "redis": 0, "pubsub": 0})
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "ADMIN_TOKEN") {
		t.Errorf("Set with a wrong token: %v", err)
	}
	if got := h.split.Weights(); !reflect.DeepEqual(got, next) {
		t.Errorf("a refused Set changed the split to %v", got)
	}
	cmd := b.Command(next)
	for _, want := range []string{"curl", "-X PUT", h.URL + "/api/split", "Bearer $ADMIN_TOKEN", `'{"weights":{"grpc":25,"pubsub":37,"redis":38}}'`} {
		if !strings.Contains(cmd, want) {
			t.Errorf("command %q lacks %q", cmd, want)
		}
	}
}

const runState = `{"status":{"traffic":[
 {"revisionName":"ingest-00007-grpc","percent":34,"tag":"blue"},
 {"revisionName":"ingest-00008-redis","tag":"green"},
 {"revisionName":"ingest-00008-redis","percent":33},
 {"revisionName":"ingest-00009-pubsub","percent":33,"tag":"canary"},
 {"revisionName":"ingest-00006-old","tag":"old"}]}}`

func TestCloudRunBackend(t *testing.T) {
	logPath, _ := fakeTools(t, runState, 0)
	b, err := NewCloudRun("ingest", "us-central1", "vac-prod", DefaultTags)
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := (split.Weights{"grpc": 34, "redis": 33, "pubsub": 33}); !reflect.DeepEqual(w, want) {
		t.Errorf("Get = %v, want %v (a revision's percent and tag may be in separate entries)", w, want)
	}
	if err := b.Set(t.Context(), split.Weights{"grpc": 25, "redis": 38, "pubsub": 37}); err != nil {
		t.Fatal(err)
	}
	got := calls(t, logPath)
	wantSet := []string{"run", "services", "update-traffic", "ingest", "--region", "us-central1", "--project", "vac-prod", "--to-tags", "blue=25,green=38,canary=37", "--quiet"}
	if len(got) != 2 || !slices.Equal(got[1], wantSet) {
		t.Fatalf("gcloud calls %q, want describe then %q", got, wantSet)
	}
	if !slices.Contains(got[0], "describe") || !slices.Contains(got[0], "--format=json") {
		t.Errorf("read with %q", got[0])
	}
	w, _ = b.Get(t.Context())
	if want := (split.Weights{"grpc": 25, "redis": 38, "pubsub": 37}); !reflect.DeepEqual(w, want) {
		t.Errorf("after Set, Get = %v, want %v", w, want)
	}
	if cmd := b.Command(split.Weights{"grpc": 100, "redis": 0, "pubsub": 0}); cmd != "gcloud run services update-traffic ingest --region us-central1 --project vac-prod --to-tags blue=100,green=0,canary=0 --quiet" {
		t.Errorf("command %q", cmd)
	}
	if err := b.Set(t.Context(), split.Weights{"grpc": 50, "redis": 0, "pubsub": 0}); err == nil {
		t.Error("traffic adding up to 50% accepted")
	}

	// Traffic on a revision without a route's tag: refuse, say how to fix.
	fakeTools(t, `{"status":{"traffic":[{"revisionName":"ingest-00010-new","percent":100}]}}`, 0)
	if _, err := b.Get(t.Context()); err == nil || !strings.Contains(err.Error(), "ingest-00010-new") || !strings.Contains(err.Error(), "--update-tags") {
		t.Errorf("untagged traffic: %v", err)
	}
}

const routeState = `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"ingest","namespace":"vacunometro"},
 "spec":{"rules":[{"backendRefs":[
   {"name":"ingest-grpc","port":80,"weight":34},
   {"name":"ingest-redis","port":80,"weight":33},
   {"name":"ingest-pubsub","port":80}]}]}}`

func TestGKEBackend(t *testing.T) {
	logPath, statePath := fakeTools(t, routeState, 0)
	b, err := NewGKE(KindHTTPRoute, "ingest", "vacunometro", DefaultBackendRefs, "gke_vac")
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := (split.Weights{"grpc": 34, "redis": 33, "pubsub": 1}); !reflect.DeepEqual(w, want) {
		t.Errorf("Get = %v, want %v (a backendRef without weight weighs 1)", w, want)
	}
	if err := b.Set(t.Context(), split.Weights{"grpc": 10, "redis": 60, "pubsub": 30}); err != nil {
		t.Fatal(err)
	}
	got := calls(t, logPath)
	if len(got) != 2 {
		t.Fatalf("kubectl calls %q", got)
	}
	patch := got[1]
	if !slices.Equal(patch[:8], []string{"--context", "gke_vac", "patch", "httproute", "ingest", "-n", "vacunometro", "--type=json"}) || patch[8] != "-p" {
		t.Fatalf("patch call %q", patch)
	}
	var ops []map[string]any
	if err := json.Unmarshal([]byte(patch[9]), &ops); err != nil {
		t.Fatal(err)
	}
	if len(ops) != 6 || ops[0]["op"] != "test" || ops[0]["path"] != "/spec/rules/0/backendRefs/0/name" || ops[0]["value"] != "ingest-grpc" ||
		ops[5]["op"] != "add" || ops[5]["path"] != "/spec/rules/0/backendRefs/2/weight" || ops[5]["value"] != float64(30) {
		t.Errorf("patch %s: want the names tested, then the three weights set", patch[9])
	}
	w, _ = b.Get(t.Context())
	if want := (split.Weights{"grpc": 10, "redis": 60, "pubsub": 30}); !reflect.DeepEqual(w, want) {
		t.Errorf("after Set, Get = %v, want %v", w, want)
	}
	if cmd := b.Command(w); !strings.HasPrefix(cmd, "kubectl --context gke_vac patch httproute ingest -n vacunometro --type=json -p '[{") {
		t.Errorf("command %q", cmd)
	}

	// Reordered since it was read: the patch's tests refuse it whole.
	reordered := strings.Replace(strings.Replace(routeState, `"ingest-grpc"`, `"TMP"`, 1), `"ingest-redis"`, `"ingest-grpc"`, 1)
	reordered = strings.Replace(reordered, `"TMP"`, `"ingest-redis"`, 1)
	if err := writeFile(statePath, reordered); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(t.Context(), split.Weights{"grpc": 100, "redis": 0, "pubsub": 0}); err == nil || !strings.Contains(err.Error(), "testing value") {
		t.Errorf("patch over reordered backendRefs: %v, want a refusal", err)
	}
	w, _ = b.Get(t.Context())
	if want := (split.Weights{"grpc": 33, "redis": 34, "pubsub": 1}); !reflect.DeepEqual(w, want) {
		t.Errorf("a refused patch changed the route: %v", w)
	}

	// A backendRef with weight that is none of the routes': refuse.
	fakeTools(t, `{"spec":{"rules":[{"backendRefs":[{"name":"ingest-grpc","weight":1},{"name":"ingest-redis"},{"name":"ingest-pubsub"},{"name":"legacy","weight":5}]}]}}`, 0)
	if _, err := b.Get(t.Context()); err == nil || !strings.Contains(err.Error(), "legacy") {
		t.Errorf("unknown weighted backendRef: %v", err)
	}
}
