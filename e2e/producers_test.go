package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// vac runs `vacunometro args...` to its end and returns its standard output.
func vac(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vacunometro %v: %v\n%s%s", args, err, out, stderr.String())
	}
	return string(out)
}

// postKey posts body as the producer of key ("" sends no key at all).
func postKey(t *testing.T, url, key, body string) (int, map[string]any) {
	t.Helper()
	auth := "Bearer " + key
	if key == "" {
		auth = "None" // not a bearer: the transport adds no key
	}
	return postWith(t, url, map[string]string{"Content-Type": "application/json", "Authorization": auth}, []byte(body))
}

func recordsJSON(n int, prefix string) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"%s-%d","name":"Duglas Francisco Avila Torres","location":"Chimaltenango","age":19,"vaccine_type":"Sputnik V","n_dose":1}`, prefix, i)
	}
	b.WriteString("]")
	return b.String()
}

// `up` makes the producer "local" and keeps its key in DATA/producer-key
// (0600); `producers` adds, lists, revokes and purges against the running
// `up`; each record is stored with its producer, which appears nowhere
// public; a purge's dry run counts exactly what the purge then removes, and
// the view matches MongoDB after it.
func TestProducersAddRevokePurge(t *testing.T) {
	data := t.TempDir()
	addr := testenv.FreeAddr(t)
	env := testenv.CleanEnv("LOCAL_PRODUCER_KEY=") // up makes the key itself
	up := start(t, env, addr, "up", "--addr", addr, "--data", data, "--web", t.TempDir())
	keyPath := filepath.Join(data, "producer-key")
	fi, err := os.Stat(keyPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("DATA/producer-key: %v %v, want mode 0600", fi, err)
	}
	if !strings.Contains(up.Logs(0), keyPath) {
		t.Errorf("up does not say where the producer key is:\n%s", up.Logs(2000))
	}
	raw, _ := os.ReadFile(keyPath)
	localKey := strings.TrimSpace(string(raw))
	if strings.Contains(up.Logs(0), localKey) {
		t.Fatal("up logged the producer key")
	}
	if code, out := postKey(t, up.URL+"/", "", recordsJSON(1, "nokey")); code != 401 {
		t.Fatalf("no key: %d %v", code, out)
	}
	if code, out := postKey(t, up.URL+"/api/records", localKey, recordsJSON(10, "loc")); code != 202 {
		t.Fatalf("local producer: %d %v", code, out)
	}

	siteKey := strings.TrimSpace(vac(t, env, "producers", "add", "site-a", "--data", data))
	if !strings.HasPrefix(siteKey, "vacp_") {
		t.Fatalf("producers add printed %q, want the key", siteKey)
	}
	var code int
	deadline := time.Now().Add(5 * time.Second)
	for code != 202 && time.Now().Before(deadline) {
		code, _ = postKey(t, up.URL+"/api/records", siteKey, recordsJSON(30, "sa"))
		time.Sleep(100 * time.Millisecond)
	}
	if code != 202 {
		t.Fatalf("a new producer's key is not accepted within 5 s: %d", code)
	}
	waitTotal(t, up.URL, 40, 20*time.Second)
	list := vac(t, env, "producers", "list", "--data", data)
	if !strings.Contains(list, "site-a") || !strings.Contains(list, "local") || strings.Contains(list, siteKey) || strings.Contains(list, localKey) {
		t.Fatalf("producers list:\n%s", list)
	}

	// Stored with its producer.
	uri, _ := os.ReadFile(filepath.Join(data, "mongo-url"))
	st, err := store.Open(context.Background(), strings.TrimSpace(string(uri)), "vacunometro")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	by := map[string]int{}
	if err := st.ScanStored(context.Background(), 100, func(batch []store.Stored) error {
		for _, r := range batch {
			if want := map[string]string{"loc": "local", "sa": "site-a"}[strings.SplitN(r.ID, "-", 2)[0]]; r.Producer != want {
				t.Errorf("record %s stored with producer %q", r.ID, r.Producer)
			}
			by[r.Producer]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if by["local"] != 10 || by["site-a"] != 30 {
		t.Fatalf("stored by producer: %v", by)
	}
	// Nowhere public.
	for _, path := range []string{"/api/stats", "/api/series", "/api/data/daily.json", "/api/data/daily.csv", "/api/data/departments.json", "/api/departments/GT-04", "/api/data/dictionary.json", "/api/openapi.json"} {
		resp, err := http.Get(up.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(b, []byte("site-a")) || bytes.Contains(b, []byte(siteKey)) {
			t.Errorf("GET %s shows the producer", path)
		}
	}

	// Purge: the dry run counts exactly, the purge removes exactly those.
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if out := vac(t, env, "producers", "purge", "site-a", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--dry-run", "--data", data); !strings.Contains(out, "dry run: 0 records") {
		t.Errorf("dry run since a later time:\n%s", out)
	}
	if out := vac(t, env, "producers", "purge", "site-a", "--since", since, "--dry-run", "--data", data); !strings.Contains(out, "dry run: 30 records") {
		t.Fatalf("dry run:\n%s", out)
	}
	if s := snapshot(t, up.URL); s.Total != 40 {
		t.Fatalf("a dry run changed the view: total %d", s.Total)
	}
	if out := vac(t, env, "producers", "purge", "site-a", "--since", since, "--data", data); !strings.Contains(out, "deleted 30 records") {
		t.Fatalf("purge:\n%s", out)
	}
	snap := waitTotal(t, up.URL, 10, 20*time.Second)
	n, err := testenv.CountRecords(context.Background(), st)
	if err != nil || n != 10 || snap.Total != n {
		t.Fatalf("after the purge MongoDB holds %d (%v), the view counts %d; want 10", n, err, snap.Total)
	}

	// Revoked: refused within seconds, 403.
	if out := vac(t, env, "producers", "revoke", "site-a", "--data", data); !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %s", out)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		code, _ = postKey(t, up.URL+"/", siteKey, recordsJSON(1, "late"))
		if code == 403 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 403 {
		t.Fatalf("a revoked key got %d", code)
	}
}

// Revoke under load: two ingest processes share one Redis; within a few
// seconds of `producers revoke` neither accepts another record of that
// producer, and every record they accepted is stored with it.
func TestRevokeUnderLoadOnTwoIngests(t *testing.T) {
	rs := testenv.StartRedis(t, true)
	uri, db := testenv.Mongo(t)
	grpcAddr := testenv.FreeAddr(t)
	env := testenv.CleanEnv("REDIS_URL="+rs.URL, "MONGODB_URI="+uri, "MONGODB_DATABASE="+db,
		"GRPC_SERVER_ADDRESS="+grpcAddr, "SPLIT=grpc=100", "LOG_LEVEL=warn")
	gh := testenv.FreeAddr(t)
	start(t, env, gh, "grpc-server", "--addr", grpcAddr, "--health-addr", gh)
	key := strings.TrimSpace(vac(t, env, "producers", "add", "site-b", "--rate", "100000", "--burst", "100000"))
	var ingests []*testenv.Proc
	for range 2 {
		a := testenv.FreeAddr(t)
		ingests = append(ingests, start(t, env, a, "ingest", "--addr", a))
	}
	type answer struct {
		sent time.Time
		code int
		id   string
	}
	var (
		mu      sync.Mutex
		answers []answer
		wg      sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 4 {
		base := ingests[w%2].URL
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("b%d-%d", w, i)
				body := strings.Replace(recordsJSON(1, "x"), `"x-0"`, `"`+id+`"`, 1)
				req, _ := http.NewRequest(http.MethodPost, base+"/", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				sent := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				answers = append(answers, answer{sent, resp.StatusCode, id})
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	vac(t, env, "producers", "revoke", "site-b")
	revoked := time.Now()
	time.Sleep(4 * time.Second)
	cancel()
	wg.Wait()

	var before, late, refused int
	var lastAfter time.Duration // the last acceptance of a request sent after the revocation
	accepted := map[string]bool{}
	for _, a := range answers {
		switch {
		case a.code == 202:
			accepted[a.id] = true
			if a.sent.Before(revoked) {
				before++
			} else {
				lastAfter = max(lastAfter, a.sent.Sub(revoked))
			}
			if a.sent.After(revoked.Add(3 * time.Second)) {
				late++
			}
		case a.code == 403:
			refused++
		}
	}
	t.Logf("%d answers: %d accepted before the revocation, %d refused (403) after it; the last accepted was sent %v after it", len(answers), before, refused, lastAfter.Round(time.Millisecond))
	if before == 0 || refused == 0 {
		t.Fatalf("load did not run through the revocation: %d accepted before, %d refused", before, refused)
	}
	if late > 0 {
		t.Fatalf("%d records accepted more than 3 s after the revocation", late)
	}
	st, err := store.Open(context.Background(), uri, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	ids, err := st.ProducerIDs(context.Background(), "site-b", time.Time{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(accepted) {
		t.Fatalf("MongoDB holds %d records of site-b, %d were accepted", len(ids), len(accepted))
	}
	for _, id := range ids {
		if !accepted[id] {
			t.Fatalf("record %s stored but never accepted", id)
		}
	}
}
