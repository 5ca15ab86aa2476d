package main

import (
	"bufio"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// scrape reads the Prometheus text of base/metrics into sample -> value
// (sample: the name with its labels, as printed).
func scrape(base string) map[string]float64 {
	out := map[string]float64{}
	resp, err := statsClient.Get(base + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] += v
		}
	}
	return out
}

// batchSizes scrapes the records-per-write histograms of a set of
// processes before and after a measurement.
type batchSizes struct {
	urls   []string
	before map[string]float64
}

func startBatches(urls ...string) *batchSizes {
	b := &batchSizes{urls: urls, before: map[string]float64{}}
	for _, u := range urls {
		for k, v := range scrape(u) {
			b.before[k] += v
		}
	}
	return b
}

// stop returns the mean records per write over the measurement: per route
// (an XADD, a gRPC call, a Pub/Sub message) and per MongoDB InsertMany.
func (b *batchSizes) stop() string {
	after := map[string]float64{}
	for _, u := range b.urls {
		for k, v := range scrape(u) {
			after[k] += v
		}
	}
	mean := func(name, labels string) (float64, bool) {
		n := after[name+"_count"+labels] - b.before[name+"_count"+labels]
		if n <= 0 {
			return 0, false
		}
		return (after[name+"_sum"+labels] - b.before[name+"_sum"+labels]) / n, true
	}
	var parts []string
	var routes []string
	for k := range after {
		if rest, ok := strings.CutPrefix(k, `vacunometro_route_batch_records_count{route="`); ok {
			routes = append(routes, strings.TrimSuffix(rest, `"}`))
		}
	}
	sort.Strings(routes)
	for _, r := range routes {
		if m, ok := mean("vacunometro_route_batch_records", `{route="`+r+`"}`); ok {
			parts = append(parts, fmt.Sprintf("%s %.1f", r, m))
		}
	}
	if m, ok := mean("vacunometro_sink_batch_records", ""); ok {
		parts = append(parts, fmt.Sprintf("InsertMany %.1f", m))
	}
	return strings.Join(parts, ", ")
}
