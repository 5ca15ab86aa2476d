package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/record"
)

// traffic is loadtest/traffic.json: the same records Locust sends.
type traffic struct {
	raw     []json.RawMessage // valid records as clients send them
	records []record.Record   // the same, normalized (for the raw storage reference)
}

func loadTraffic(path string) (*traffic, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("traffic: %w", err)
	}
	var doc struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("traffic %s: %w", path, err)
	}
	dec := &record.Decoder{Catalog: catalog.Default(), IDs: &record.IDGenerator{}}
	t := &traffic{}
	for _, m := range doc.Records {
		if inv, _ := m["_invalid"].(bool); inv {
			continue
		}
		for k := range m {
			if strings.HasPrefix(k, "_") {
				delete(m, k)
			}
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("traffic: %w", err)
		}
		recs, err := dec.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("traffic: record %s is not valid: %w", raw, err)
		}
		t.raw = append(t.raw, raw)
		t.records = append(t.records, recs[0])
	}
	if len(t.raw) == 0 {
		return nil, fmt.Errorf("traffic %s: no valid records", path)
	}
	return t, nil
}

// singles returns one request body per record.
func (t *traffic) singles() [][]byte {
	out := make([][]byte, len(t.raw))
	for i, r := range t.raw {
		out[i] = r
	}
	return out
}

// batches returns n JSON-array bodies of size records each, cycling through the traffic.
func (t *traffic) batches(n, size int) [][]byte {
	out := make([][]byte, n)
	k := 0
	for i := range out {
		var b bytes.Buffer
		b.WriteByte('[')
		for j := 0; j < size; j++ {
			if j > 0 {
				b.WriteByte(',')
			}
			b.Write(t.raw[k%len(t.raw)])
			k++
		}
		b.WriteByte(']')
		out[i] = b.Bytes()
	}
	return out
}

// loadSpec is one run of the load generator.
type loadSpec struct {
	URL       string // where to POST
	Key       string // producer key (Authorization: Bearer); "" for the seed
	Bodies    [][]byte
	PerBody   int // records per body
	Conns     int
	Duration  time.Duration
	Rate      float64 // requests/s in all; 0 means closed loop (as fast as the server answers)
	Accept    int     // the success status: 202 for ours, 200 for the seed
	CheckIDs  bool    // a success must carry PerBody ids
	OnSuccess func(ids []string, at time.Time)
}

// loadResult is what the load generator saw.
type loadResult struct {
	Requests int64 // successes
	Records  int64 // records in successful requests
	Errors   int64 // anything else (status, transport, missing ids)
	Late     int64 // paced requests that could not be sent on time
	FirstErr string
	Elapsed  time.Duration
	P50, P99 time.Duration
}

func (r loadResult) rps() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }
func (r loadResult) recPerS() float64 {
	return float64(r.Records) / r.Elapsed.Seconds()
}

func newHTTPClient(conns int) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// runLoad posts spec.Bodies from spec.Conns keep-alive connections for
// spec.Duration, closed loop or paced at spec.Rate.
func runLoad(ctx context.Context, spec loadSpec) loadResult {
	if spec.Accept == 0 {
		spec.Accept = http.StatusAccepted
	}
	client := newHTTPClient(spec.Conns)
	defer client.CloseIdleConnections()
	var (
		res      loadResult
		reqs     atomic.Int64
		recs     atomic.Int64
		errs     atomic.Int64
		late     atomic.Int64
		errOnce  sync.Once
		latMu    sync.Mutex
		lats     []time.Duration
		next     atomic.Int64
		contType = "application/json"
	)
	lctx, cancel := context.WithTimeout(ctx, spec.Duration)
	defer cancel()

	var tokens chan struct{}
	if spec.Rate > 0 {
		tokens = make(chan struct{}, spec.Conns*4)
		go func() {
			defer close(tokens)
			start := time.Now()
			var sent int64
			for lctx.Err() == nil {
				due := int64(time.Since(start).Seconds() * spec.Rate)
				for ; sent < due; sent++ {
					select {
					case tokens <- struct{}{}:
					default:
						late.Add(1)
					}
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}

	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < spec.Conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			defer func() {
				latMu.Lock()
				lats = append(lats, mine...)
				latMu.Unlock()
			}()
			for {
				if tokens != nil {
					if _, ok := <-tokens; !ok {
						return
					}
				} else if lctx.Err() != nil {
					return
				}
				body := spec.Bodies[int(next.Add(1))%len(spec.Bodies)]
				t0 := time.Now()
				ids, err := post(ctx, client, spec.URL, spec.Key, contType, body, spec.Accept)
				if err == nil && spec.CheckIDs && len(ids) != spec.PerBody {
					err = fmt.Errorf("%d ids for %d records", len(ids), spec.PerBody)
				}
				at := time.Now()
				if err != nil {
					errs.Add(1)
					errOnce.Do(func() { res.FirstErr = err.Error() })
					if ctx.Err() != nil {
						return
					}
					continue
				}
				mine = append(mine, at.Sub(t0))
				reqs.Add(1)
				recs.Add(int64(spec.PerBody))
				if spec.OnSuccess != nil {
					spec.OnSuccess(ids, at)
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Requests, res.Records, res.Errors, res.Late = reqs.Load(), recs.Load(), errs.Load(), late.Load()
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	res.P50, res.P99 = quantile(lats, 0.50), quantile(lats, 0.99)
	return res
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}

var errStatus = errors.New("unexpected status")

// post sends one body and returns the ids of a success.
func post(ctx context.Context, c *http.Client, url, key, contentType string, body []byte, want int) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%w %d: %.200s", errStatus, resp.StatusCode, b)
	}
	if want != http.StatusAccepted {
		return nil, nil
	}
	var out struct {
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("202 body: %w", err)
	}
	return out.IDs, nil
}
