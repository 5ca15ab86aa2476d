// Package e2e tests the vacunometro binary as users run it: real processes,
// real services (redis-server, FerretDB, the Pub/Sub emulator), HTTP only.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// bin is the vacunometro binary built once for the package.
var bin string

func TestMain(m *testing.M) {
	// Every POST of this package's clients carries the key of the producer
	// "local" (the children get it as LOCAL_PRODUCER_KEY), unless it sets
	// its own Authorization (the tests of refused keys).
	http.DefaultTransport = testenv.AuthTransport(http.DefaultTransport)
	code := testenv.RunWithBinary(m, "vacunometro-e2e", &bin)
	os.Exit(code)
}

// start runs `vacunometro args...` and, for HTTP commands (addr set),
// waits for /readyz.
func start(t *testing.T, env []string, addr string, args ...string) *testenv.Proc {
	t.Helper()
	return testenv.StartProc(t, bin, args[0], env, addr, args...)
}

// stop ends p with SIGTERM and fails the test unless it exits cleanly.
func stop(t *testing.T, p *testenv.Proc) {
	t.Helper()
	if err := p.Stop(); err != nil {
		t.Fatalf("%s after SIGTERM: %v\n%s", p.Name, err, p.Logs(20000))
	}
}

// post sends body and returns the status code and decoded JSON answer.
func post(t *testing.T, url, contentType string, body []byte) (int, map[string]any) {
	t.Helper()
	return postWith(t, url, map[string]string{"Content-Type": contentType}, body)
}

// postWith is post with the request headers given (empty values left out).
func postWith(t *testing.T, url string, header map[string]string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	for k, v := range header {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func snapshot(t *testing.T, base string) *stats.Snapshot {
	t.Helper()
	resp, err := http.Get(base + "/api/stats")
	if err != nil {
		t.Fatalf("GET /api/stats: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/stats: %s", resp.Status)
	}
	var s stats.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// waitTotal waits until /api/stats counts want records.
func waitTotal(t *testing.T, base string, want int64, timeout time.Duration) *stats.Snapshot {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := snapshot(t, base)
		if s.Total == want {
			return s
		}
		if s.Total > want || time.Now().After(deadline) {
			t.Fatalf("/api/stats total = %d, want %d", s.Total, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// input is a record as a client sends it, with what the system must make of it.
type input struct {
	JSON   map[string]any
	Normal record.Record // what it must be counted as (Route set on acceptance)
}

// inputs makes n valid records using the spellings clients use.
func inputs(n int, idPrefix string) []input {
	cat := catalog.Default()
	deps := cat.Departments()
	spell := []func(string) string{
		func(s string) string { return s },
		strings.ToUpper,
		strings.ToLower,
		func(s string) string { return catalog.Key(s) }, // no accents, no spaces
	}
	vaccines := [][2]string{{"Sputnik V", "Sputnik V"}, {"sputnik v", "Sputnik V"}, {"Sputnik-V", "Sputnik V"},
		{"Pfizer", "Pfizer-BioNTech"}, {"Moderna", "Moderna"}, {"AstraZeneca", "Oxford/AstraZeneca"}, {"Oxford/AstraZeneca", "Oxford/AstraZeneca"}}
	out := make([]input, n)
	for i := range out {
		d := deps[(i*3+i/22)%len(deps)]
		loc := d.Name
		if i%4 == 0 {
			loc = spell[(i/4)%len(spell)](d.Name)
		}
		v := vaccines[i%len(vaccines)]
		age := (i * 7) % 121
		dose := 1 + (i/3)%4
		j := map[string]any{"name": fmt.Sprintf("Duglas Francisco Avila Torres %d", i), "location": loc, "age": age, "vaccine_type": v[0], "n_dose": dose}
		if idPrefix != "" {
			j["id"] = fmt.Sprintf("%s-%d", idPrefix, i)
		}
		out[i] = input{JSON: j, Normal: record.Record{DepartmentCode: d.Code, Department: d.Name, Age: age, Vaccine: v[1], Dose: dose}}
	}
	return out
}

// sendAll posts ins as single records, arrays and NDJSON, concurrently, and
// returns the records as accepted (with the route each took).
func sendAll(t *testing.T, base string, ins []input, mode string) []record.Record {
	t.Helper()
	var mu sync.Mutex
	var accepted []record.Record
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	size := map[string]int{"single": 1, "array": 25, "ndjson": 40}[mode]
	for i := 0; i < len(ins); i += size {
		part := ins[i:min(i+size, len(ins))]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var body []byte
			ct := "application/json"
			switch mode {
			case "single":
				body, _ = json.Marshal(part[0].JSON)
			case "array":
				arr := make([]map[string]any, len(part))
				for k := range part {
					arr[k] = part[k].JSON
				}
				body, _ = json.Marshal(arr)
			case "ndjson":
				ct = "application/x-ndjson"
				var b bytes.Buffer
				for k := range part {
					line, _ := json.Marshal(part[k].JSON)
					b.Write(line)
					b.WriteByte('\n')
				}
				body = b.Bytes()
			}
			url := base + "/api/records"
			if mode == "single" {
				url = base + "/" // the seed's Locust file posts to /
			}
			code, out := post(t, url, ct, body)
			if code != http.StatusAccepted {
				t.Errorf("POST %s: %d %v", mode, code, out)
				return
			}
			ids, _ := out["ids"].([]any)
			routeName, _ := out["route"].(string)
			if len(ids) != len(part) {
				t.Errorf("202 with %d ids for %d records", len(ids), len(part))
				return
			}
			mu.Lock()
			for k := range part {
				r := part[k].Normal
				r.ID, _ = ids[k].(string)
				r.Route = routeName
				accepted = append(accepted, r)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return accepted
}
