package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// Names of the synthetic people: every full name is made of four parts, so
// that tests can look for a full name in what the system shows.
var (
	givenNames  = []string{"Duglas", "María", "José", "Ana", "Luis", "Rosa", "Carlos", "Lucía", "Juan", "Sofía", "Pedro", "Elena"}
	secondNames = []string{"Francisco", "Isabel", "Antonio", "Beatriz", "Fernando", "Carmen", "Alberto", "Gabriela"}
	surnames    = []string{"Avila", "Torres", "López", "García", "Pérez", "Morales", "Hernández", "Castillo", "Juárez", "Cifuentes", "Ixcot", "Tzul"}
)

// fullName is the i-th synthetic full name.
func fullName(i int) string {
	return fmt.Sprintf("%s %s %s %s", givenNames[i%len(givenNames)], secondNames[(i/3)%len(secondNames)],
		surnames[(i/7)%len(surnames)], surnames[(i/5+3)%len(surnames)])
}

// recordJSON is the i-th synthetic record as a client sends it.
func recordJSON(id string, i int) map[string]any {
	cat := catalog.Default()
	deps := cat.Departments()
	vacs := []string{"Sputnik V", "sputnik v", "Pfizer", "Moderna", "AstraZeneca", "Oxford/AstraZeneca"}
	loc := deps[(i*5+i/22)%len(deps)].Name
	if i%3 == 0 {
		loc = strings.ToLower(loc)
	}
	m := map[string]any{"name": fullName(i), "location": loc, "age": (i * 7) % 121,
		"vaccine_type": vacs[i%len(vacs)], "n_dose": 1 + (i/2)%4}
	if id != "" {
		m["id"] = id
	}
	return m
}

// request is one POST a load client made (kept to be retried).
type request struct {
	url, contentType string
	body             []byte
	ids              []string
}

// outcome is what one POST got.
type outcome struct {
	start, end time.Time
	status     int // 0: transport error
	route      string
	err        string
}

// loadGen posts records with client ids from a few goroutines and keeps an
// account of every answer.
type loadGen struct {
	url     string
	prefix  string
	workers int
	pause   time.Duration
	client  *http.Client

	paused   atomic.Bool
	inflight atomic.Int64
	requests atomic.Int64
	seq      atomic.Int64

	mu         sync.Mutex
	accepted   map[string]string // id -> route of its first 202
	accepts    map[string]int    // id -> number of 202s it got
	refused    []request         // not accepted: to be retried with the same ids
	outcomes   []outcome
	statuses   map[string]int // "202", "503", "transport", ...
	violations []string       // answers that broke the contract
}

func newLoad(url, prefix string, workers int) *loadGen {
	return &loadGen{
		url: url, prefix: prefix, workers: workers, pause: 5 * time.Millisecond,
		client: &http.Client{Timeout: 60 * time.Second, Transport: testenv.AuthTransport(&http.Transport{
			MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second})},
		accepted: map[string]string{}, accepts: map[string]int{}, statuses: map[string]int{},
	}
}

// Run posts until ctx ends (a bounded loop: each client waits for each
// answer), then returns when every request in flight has its answer.
func (l *loadGen) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for w := 0; w < l.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ctx.Err() == nil; k++ {
				l.inflight.Add(1)
				if l.paused.Load() {
					l.inflight.Add(-1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				l.do(l.next(w, k))
				l.inflight.Add(-1)
				time.Sleep(l.pause)
			}
		}()
	}
	wg.Wait()
}

// next builds client w's k-th request: single records posted to / (as the
// seed's Locust file does), JSON arrays and NDJSON of 2 to 12 records.
func (l *loadGen) next(w, k int) request {
	n := 1
	if k%3 != 0 {
		n = 2 + (k*7+w)%11
	}
	recs := make([]map[string]any, n)
	ids := make([]string, n)
	for j := range recs {
		i := int(l.seq.Add(1))
		ids[j] = fmt.Sprintf("%s-%d-%d-%d", l.prefix, w, k, j)
		recs[j] = recordJSON(ids[j], i)
	}
	req := request{url: l.url + "/api/records", contentType: "application/json", ids: ids}
	switch {
	case n == 1:
		req.url = l.url + "/"
		req.body, _ = json.Marshal(recs[0])
	case k%3 == 1:
		req.body, _ = json.Marshal(recs)
	default:
		req.contentType = "application/x-ndjson"
		var b bytes.Buffer
		for _, r := range recs {
			line, _ := json.Marshal(r)
			b.Write(line)
			b.WriteByte('\n')
		}
		req.body = b.Bytes()
	}
	return req
}

type acceptedBody struct {
	Accepted int      `json:"accepted"`
	IDs      []string `json:"ids"`
	Route    string   `json:"route"`
}

// do posts req and records its outcome; it reports whether it got a 202.
func (l *loadGen) do(req request) bool {
	l.requests.Add(1)
	o := outcome{start: time.Now()}
	hreq, _ := http.NewRequest(http.MethodPost, req.url, bytes.NewReader(req.body))
	hreq.Header.Set("Content-Type", req.contentType)
	resp, err := l.client.Do(hreq)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		o.status = resp.StatusCode
	}
	o.end = time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		// Told so: the client saw the request fail.
		o.status, o.err = 0, err.Error()
		l.statuses["transport error"]++
		l.refused = append(l.refused, req)
		l.outcomes = append(l.outcomes, o)
		return false
	}
	l.statuses[fmt.Sprint(o.status)]++
	switch {
	case o.status == http.StatusAccepted:
		var a acceptedBody
		if err := json.Unmarshal(body, &a); err != nil || a.Accepted != len(req.ids) || !slices.Equal(a.IDs, req.ids) ||
			!slices.Contains([]string{"grpc", "redis", "pubsub"}, a.Route) {
			l.violations = append(l.violations, fmt.Sprintf("202 whose body does not account for the %d ids sent: %.300s", len(req.ids), body))
			l.refused = append(l.refused, req)
			l.outcomes = append(l.outcomes, o)
			return false
		}
		o.route = a.Route
		for _, id := range req.ids {
			if _, ok := l.accepted[id]; !ok {
				l.accepted[id] = a.Route
			}
			l.accepts[id]++
		}
	case o.status >= 200 && o.status < 300:
		l.violations = append(l.violations, fmt.Sprintf("%d (a success that is not a 202 with ids): %.300s", o.status, body))
		l.refused = append(l.refused, req)
	default:
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			l.violations = append(l.violations, fmt.Sprintf("%d without a JSON error message: %.300s", o.status, body))
		}
		l.refused = append(l.refused, req)
	}
	l.outcomes = append(l.outcomes, o)
	return o.status == http.StatusAccepted
}

// Pause stops the clients from sending and waits until no request is in
// flight (at most timeout).
func (l *loadGen) Pause(timeout time.Duration) error {
	l.paused.Store(true)
	deadline := time.Now().Add(timeout)
	for l.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d requests still in flight after %v", l.inflight.Load(), timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// Resume lets the clients send again.
func (l *loadGen) Resume() { l.paused.Store(false) }

// RetryRefused posts every refused request again, with the same ids, as the
// 503 answer asks, until each gets a 202 (a few tries, a second apart). It
// returns how many requests it retried.
func (l *loadGen) RetryRefused(tries int) (int, error) {
	l.mu.Lock()
	todo := l.refused
	l.refused = nil
	l.mu.Unlock()
	n := len(todo)
	for try := 0; try < tries && len(todo) > 0; try++ {
		if try > 0 {
			time.Sleep(time.Second)
		}
		var left []request
		for _, req := range todo {
			if !l.do(req) {
				left = append(left, req)
			}
		}
		l.mu.Lock()
		l.refused = nil // do() appended the ones that failed again; left has them
		l.mu.Unlock()
		todo = left
	}
	if len(todo) > 0 {
		l.mu.Lock()
		l.refused = todo
		l.mu.Unlock()
		return n, fmt.Errorf("%d requests still not accepted after %d tries", len(todo), tries)
	}
	return n, nil
}

// Accepted returns the accepted ids and the route of each one's first 202.
func (l *loadGen) Accepted() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.accepted))
	for k, v := range l.accepted {
		out[k] = v
	}
	return out
}

// Summary is a one-line account of the answers.
func (l *loadGen) Summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, 0, len(l.statuses))
	for k := range l.statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, l.statuses[k]))
	}
	return fmt.Sprintf("requests=%d answers={%s}", l.requests.Load(), strings.Join(parts, " "))
}

// Violations returns the answers that broke the contract.
func (l *loadGen) Violations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.violations)
}

// Outcomes returns every answer so far.
func (l *loadGen) Outcomes() []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.outcomes)
}

// absorb adds o's account to l's (o must be stopped).
func (l *loadGen) absorb(o *loadGen) {
	o.mu.Lock()
	defer o.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, r := range o.accepted {
		if _, ok := l.accepted[id]; !ok {
			l.accepted[id] = r
		}
	}
	for id, n := range o.accepts {
		l.accepts[id] += n
	}
	for k, n := range o.statuses {
		l.statuses[k] += n
	}
	l.refused = append(l.refused, o.refused...)
	l.outcomes = append(l.outcomes, o.outcomes...)
	l.violations = append(l.violations, o.violations...)
	l.requests.Add(o.requests.Load())
}
