// Command bench measures vacunometro against ceilings measured in the same
// run, with the real services: redis-server (AOF, fsync always), FerretDB on
// SQLite, the Google Pub/Sub emulator, and `vacunometro up` as built by
// `make build`. Run it with `make bench` (never part of `make test`):
//
//	go run ./bench                      # quick: about 2-3 minutes
//	go run ./bench -e2e 20s -fresh 15s  # the figures in bench/README.md
//
// Measurements (each printed in the table, ratios to references of this run):
//  1. ingest ceiling: a do-nothing JSON handler (the reference) against the
//     real ingest for each route and the default split, single-record POSTs
//     from the same keep-alive connections: ingest_ratio_<route>;
//  2. end to end: records/s stored in MongoDB and counted in /api/stats,
//     single POSTs and 100-record batches, against raw InsertMany of 1,000
//     documents into the same MongoDB: e2e_records_per_s, e2e_ratio, store_ratio;
//  3. freshness: ms from a 202 to a WebSocket snapshot that shows the record,
//     at half the end-to-end capacity: fresh_p50_ms, fresh_p99_ms;
//  4. the seed's design (a new gRPC connection, MongoDB client and Redis
//     connection per request, InsertOne, HMSET) under the same load: vs_seed;
//  5. peak RSS (VmHWM) of `vacunometro up` during the end-to-end run.
//
// At the end it checks that MongoDB and /api/stats hold every accepted
// record exactly once, and exits 1 when they do not. The last line is
// `RESULT key=value ...`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vacunometro/vacunometro/internal/store"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

type config struct {
	bin, traffic, pubsub, only string
	conns, batchConns, batch   int
	storeWorkers, storeBatch   int
	ingest, e2e, fresh, seed   time.Duration
	store, settle              time.Duration
	keep                       bool
	profile                    string
}

func main() {
	if ok, err := serveMode(os.Args[1:]); ok {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	var c config
	flag.StringVar(&c.bin, "bin", "bin/vacunometro", "the vacunometro binary (make build)")
	flag.StringVar(&c.traffic, "traffic", "loadtest/traffic.json", "records to send (the Locust traffic file)")
	flag.StringVar(&c.pubsub, "pubsub", "auto", "Pub/Sub for the pubsub route: auto (PUBSUB_EMULATOR_HOST, else start the emulator if gcloud is installed, else pstest), emulator, embedded (pstest)")
	flag.StringVar(&c.only, "only", "ingest,tiers,store,e2e,fresh,seed", "measurements to run, comma-separated")
	flag.IntVar(&c.conns, "conns", 64, "keep-alive connections for single-record POSTs")
	flag.IntVar(&c.batchConns, "batch-conns", 8, "keep-alive connections for batch POSTs")
	flag.IntVar(&c.batch, "batch", 100, "records per batch POST")
	flag.IntVar(&c.storeBatch, "store-batch", 1000, "documents per raw InsertMany")
	flag.IntVar(&c.storeWorkers, "store-workers", 1, "concurrent raw InsertMany writers")
	flag.DurationVar(&c.ingest, "ingest", 4*time.Second, "duration of each ingest-ceiling run")
	flag.DurationVar(&c.e2e, "e2e", 10*time.Second, "duration of each end-to-end run (the issue's figure: 20s)")
	flag.DurationVar(&c.fresh, "fresh", 8*time.Second, "duration of the freshness run")
	flag.DurationVar(&c.seed, "seed", 8*time.Second, "duration of the seed baseline run")
	flag.DurationVar(&c.store, "store", 5*time.Second, "duration of the raw InsertMany run")
	flag.DurationVar(&c.settle, "settle", 120*time.Second, "longest wait for /api/stats to count every accepted record")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary directory (logs, data)")
	flag.StringVar(&c.profile, "profile", "", "directory for CPU profiles of up during the end-to-end and freshness runs (pprof when up serves /debug/pprof, else perf)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, c)
	if err != nil {
		logf("FAIL: %v", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// row is one line of the table.
type row struct {
	name, load       string
	reqPerS, recPerS float64
	ratio            string
	p50, p99         time.Duration
	errs             int64
	cpu              *cpuUse
	// reqs and recs are the requests answered and the records stored
	// during the measurement: the units of CPU per request and per record.
	reqs, recs int64
	// batches: mean records per write to each route and per InsertMany.
	batches string
}

type bench struct {
	c        config
	svc      *services
	tr       *traffic
	database string
	rows     []row
	result   []string // key=value, in order
	expected int64    // records accepted by vacunometro in this run (all generated ids)
	failures []string
	prof     *profiler
	refRPS   float64 // the reference handler's requests/s (mean of its runs)
}

func (b *bench) put(key string, format string, v any) {
	b.result = append(b.result, key+"="+fmt.Sprintf(format, v))
}

func (b *bench) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.failures = append(b.failures, msg)
	logf("FAIL: %s", msg)
}

// meter starts measuring the CPU of the services and of extra.
func (b *bench) meter(extra ...*proc) *cpuMeter {
	var names []string
	var pgids []int
	for _, p := range append(extra, b.svc.procs...) {
		if p == nil || p.exited() {
			continue
		}
		name := p.name
		switch name {
		case "vacunometro up":
			name = "up"
		case "pubsub-emulator":
			name = "pubsub"
		case "redis-server":
			name = "redis"
		}
		names, pgids = append(names, name), append(pgids, p.pid())
	}
	return startCPU(names, pgids)
}

func (b *bench) want(m string) bool { return slices.Contains(strings.Split(b.c.only, ","), m) }

func run(ctx context.Context, c config) (int, error) {
	start := time.Now()
	// needUp: a measurement runs our binary (up, or the tiers apart),
	// which needs Pub/Sub.
	needUp := false
	for _, m := range []string{"ingest", "tiers", "e2e", "fresh"} {
		needUp = needUp || slices.Contains(strings.Split(c.only, ","), m)
	}
	if _, err := os.Stat(c.bin); err != nil && needUp {
		return 2, fmt.Errorf("%s: %w (run make build)", c.bin, err)
	}
	tr, err := loadTraffic(c.traffic)
	if err != nil {
		return 2, err
	}
	dir, err := os.MkdirTemp("", "vac-bench-")
	if err != nil {
		return 2, fmt.Errorf("temp dir: %w", err)
	}
	if c.keep {
		logf("files in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	pubsubMode := c.pubsub
	if !needUp {
		pubsubMode = "none"
	}
	svc, err := startServices(ctx, dir, pubsubMode)
	if err != nil {
		return 2, err
	}
	defer svc.stop()
	b := &bench{c: c, svc: svc, tr: tr, database: fmt.Sprintf("vacbench_%d", time.Now().Unix())}
	if c.profile != "" {
		if err := os.MkdirAll(c.profile, 0o750); err != nil {
			return 2, fmt.Errorf("profile dir: %w", err)
		}
		b.prof = &profiler{dir: c.profile, token: svc.adminToken}
	}
	logf("pubsub: %s; database %s; %d records in %s", svc.pubsubNote, b.database, len(tr.raw), c.traffic)

	if err := b.measure(ctx); err != nil {
		return 1, err
	}
	b.cpuRatios()
	b.print(time.Since(start))
	if len(b.failures) > 0 {
		return 1, fmt.Errorf("%d check(s) failed: %s", len(b.failures), strings.Join(b.failures, "; "))
	}
	return 0, nil
}

func (b *bench) measure(ctx context.Context) error {
	c := b.c
	singles := b.tr.singles()
	single := func(url string, d time.Duration) loadSpec {
		return loadSpec{URL: url, Key: b.svc.producerKey, Bodies: singles, PerBody: 1, Conns: c.conns, Duration: d, CheckIDs: true}
	}

	// 1. Ingest ceiling. The machine is shared: the reference runs before and
	// after the routes, and the ratios use the mean of the two.
	var refRPS float64
	if b.want("ingest") || b.want("e2e") || b.want("seed") {
		r, err := b.reference(ctx, single, "reference (do-nothing JSON handler)")
		if err != nil {
			return err
		}
		refRPS = r.rps()
		b.refRPS = refRPS
	}
	if b.want("ingest") {
		type ingestRun struct {
			name string
			r    loadResult
			cpu  *cpuUse
			bat  string
		}
		var runs []ingestRun
		for _, sp := range []struct{ name, split string }{
			{"grpc", soleRoute("grpc")},
			{"redis", soleRoute("redis")},
			{"pubsub", soleRoute("pubsub")},
			{"default", ""},
		} {
			up, err := startUp(ctx, c.bin, b.svc, b.database, sp.split, "ingest-"+sp.name)
			if err != nil {
				return err
			}
			logf("ingest %s: %d connections, single-record POSTs for %s", sp.name, c.conns, c.ingest)
			m := b.meter(up.proc)
			bs := startBatches(up.url)
			wait := b.prof.start(ctx, up.proc, up.url, "up-ingest-"+sp.name, c.ingest)
			r := runLoad(ctx, single(up.url+"/api/records", c.ingest))
			wait()
			logf("ingest %s: %.0f requests/s", sp.name, r.rps())
			b.expected += r.Records
			// The CPU of a request is all it caused: metered until the
			// records are stored and counted.
			if _, err := b.settled(ctx, up.url, b.expected); err != nil {
				b.fail("ingest %s: %v", sp.name, err)
			}
			runs = append(runs, ingestRun{sp.name, r, m.stop(), bs.stop()})
			if err := up.stop(30 * time.Second); err != nil {
				b.fail("ingest %s: %v", sp.name, err)
			}
		}
		r2, err := b.reference(ctx, single, "reference again")
		if err != nil {
			return err
		}
		// CPU per request falls as the rate rises (fewer wake-ups per
		// request): the reference again, paced at the redis route's rate,
		// shows how much of the gap is the rate alone.
		for _, run := range runs {
			if run.name == "redis" && run.r.rps() > 0 {
				paced := func(url string, d time.Duration) loadSpec {
					sp := single(url, d)
					sp.Rate = run.r.rps()
					return sp
				}
				if _, err := b.reference(ctx, paced, fmt.Sprintf("reference paced at %.0f/s", run.r.rps())); err != nil {
					return err
				}
			}
		}
		refRPS = (refRPS + r2.rps()) / 2
		b.refRPS = refRPS
		for _, run := range runs {
			b.add(row{name: "ingest " + run.name, load: fmt.Sprintf("1 rec/req, %d conns", c.conns), cpu: run.cpu, batches: run.bat}, run.r, refRPS)
			b.put("ingest_rps_"+run.name, "%.0f", run.r.rps())
			b.put("ingest_ratio_"+run.name, "%.2f", run.r.rps()/refRPS)
		}
	}
	// 1b. The tiers as separate processes (Cloud Run's ingest, GKE's gRPC
	// server and workers).
	if b.want("tiers") {
		if err := b.tiers(ctx, single); err != nil {
			return err
		}
	}
	if refRPS > 0 {
		b.put("ref_rps", "%.0f", refRPS)
	}

	// 2. End to end against the storage ceiling (measured before and after),
	// 3. freshness, 5. memory: one `up` with the default split.
	var storeRate, e2eSingle float64
	if b.want("store") || b.want("e2e") {
		sr, err := b.storeCeiling(ctx, "MongoDB InsertMany (storage ceiling)")
		if err != nil {
			return err
		}
		storeRate = sr
	}
	if b.want("e2e") || b.want("fresh") {
		up, err := startUp(ctx, c.bin, b.svc, b.database, "", "e2e")
		if err != nil {
			return err
		}
		defer up.stop(30 * time.Second)
		if err := resetPeakRSS(up.pid()); err != nil {
			logf("warning: cannot reset peak RSS: %v", err)
		}
		if b.want("e2e") {
			var err error
			e2eSingle, err = b.endToEnd(ctx, up, single(up.url+"/", c.e2e), "e2e single")
			if err != nil {
				return err
			}
			// 4. The seed's design, same servers, same load, right after ours.
			if b.want("seed") {
				if err := b.seedBaseline(ctx, single, e2eSingle); err != nil {
					return err
				}
			}
			batchSpec := loadSpec{URL: up.url + "/api/records", Key: b.svc.producerKey, Bodies: b.tr.batches(64, c.batch), PerBody: c.batch,
				Conns: c.batchConns, Duration: c.e2e, CheckIDs: true}
			e2eBatch, err := b.endToEnd(ctx, up, batchSpec, "e2e batch")
			if err != nil {
				return err
			}
			if rss, err := peakRSS(up.pid()); err == nil {
				b.put("peak_rss_mb_up", "%.0f", rss)
			}
			sr2, err := b.storeCeiling(ctx, "MongoDB InsertMany again")
			if err != nil {
				return err
			}
			storeRate = (storeRate + sr2) / 2
			b.put("store_docs_per_s", "%.0f", storeRate)
			best := max(e2eSingle, e2eBatch)
			for i := range b.rows {
				if rw := &b.rows[i]; strings.HasPrefix(rw.name, "e2e ") {
					rw.ratio = fmt.Sprintf("%.2f ref, %.2f store", rw.recPerS/refRPS, rw.recPerS/storeRate)
				}
			}
			b.put("e2e_records_per_s_single", "%.0f", e2eSingle)
			b.put("e2e_records_per_s_batch", "%.0f", e2eBatch)
			b.put("e2e_records_per_s", "%.0f", best)
			b.put("e2e_ratio", "%.2f", best/refRPS)
			b.put("e2e_ratio_single", "%.2f", e2eSingle/refRPS)
			b.put("store_ratio", "%.2f", best/storeRate)
			b.put("store_ratio_single", "%.2f", e2eSingle/storeRate)
		} else if storeRate > 0 {
			b.put("store_docs_per_s", "%.0f", storeRate)
		}
		if b.want("fresh") {
			if err := b.freshness(ctx, up, e2eSingle); err != nil {
				return err
			}
		}
		if err := b.account(ctx, up); err != nil {
			return err
		}
		if err := up.stop(30 * time.Second); err != nil {
			b.fail("%v", err)
		}
	} else if storeRate > 0 {
		b.put("store_docs_per_s", "%.0f", storeRate)
	}
	if p := b.svc.ferret(); p != nil {
		if rss, err := peakRSS(p.pid()); err == nil {
			b.put("peak_rss_mb_ferretdb", "%.0f", rss)
		}
	}

	if b.want("seed") && !b.want("e2e") {
		if err := b.seedBaseline(ctx, single, e2eSingle); err != nil {
			return err
		}
	}
	return nil
}

// storeCeiling measures raw InsertMany into the same MongoDB.
func (b *bench) storeCeiling(ctx context.Context, name string) (float64, error) {
	c := b.c
	logf("%s: InsertMany of %d documents, %d writer(s), for %s", name, c.storeBatch, c.storeWorkers, c.store)
	m := b.meter()
	waitF := b.prof.start(ctx, b.svc.ferret(), b.svc.ferretDebug, "ferretdb-insertmany", c.store)
	defer waitF()
	sr, err := rawInsertMany(ctx, b.svc.mongoURI, b.database+"_raw", b.tr.records, c.storeBatch, c.storeWorkers, c.store)
	if err != nil {
		return 0, err
	}
	b.rows = append(b.rows, row{name: name, load: fmt.Sprintf("%d docs/op, %d writer", c.storeBatch, c.storeWorkers),
		recPerS: sr.rate(), ratio: "store", cpu: m.stop(), recs: sr.Docs})
	logf("%s: %.0f documents/s", name, sr.rate())
	return sr.rate(), nil
}

// reference runs the do-nothing handler in a child process and loads it.
func (b *bench) reference(ctx context.Context, single func(string, time.Duration) loadSpec, name string) (loadResult, error) {
	addr, err := freeAddr()
	if err != nil {
		return loadResult{}, err
	}
	p, err := startSelf(ctx, b.svc.dir, "reference", "http://"+addr+"/readyz", "serve-ref", "-addr", addr)
	if err != nil {
		return loadResult{}, err
	}
	defer p.stop(5 * time.Second)
	logf("%s: %d connections, single-record POSTs for %s", name, b.c.conns, b.c.ingest)
	m := b.meter(p)
	r := runLoad(ctx, single("http://"+addr+"/api/records", b.c.ingest))
	cpu := m.stop()
	if r.Errors > 0 || r.Requests == 0 {
		return r, fmt.Errorf("reference handler: %d errors, %d requests: %s", r.Errors, r.Requests, r.FirstErr)
	}
	b.add(row{name: name, load: fmt.Sprintf("1 rec/req, %d conns", b.c.conns), ratio: "ref", cpu: cpu}, r, 0)
	return r, nil
}

// add appends a table row for a load result.
func (b *bench) add(rw row, r loadResult, ref float64) {
	rw.reqPerS, rw.recPerS, rw.p50, rw.p99, rw.errs = r.rps(), r.recPerS(), r.P50, r.P99, r.Errors
	if rw.reqs == 0 && rw.recs == 0 {
		rw.reqs, rw.recs = r.Requests, r.Records
	}
	if ref > 0 && rw.ratio == "" {
		rw.ratio = fmt.Sprintf("%.2f", r.rps()/ref)
	}
	if r.Errors > 0 {
		b.fail("%s: %d failed requests (first: %s)", rw.name, r.Errors, r.FirstErr)
	}
	b.rows = append(b.rows, rw)
}

// endToEnd loads up with spec and returns records/s from the start of the
// load until /api/stats counted every accepted record.
func (b *bench) endToEnd(ctx context.Context, up *upProc, spec loadSpec, name string) (float64, error) {
	logf("%s: %d connections, %d record(s) per POST, for %s", name, spec.Conns, spec.PerBody, spec.Duration)
	t0 := time.Now()
	m := b.meter(up.proc)
	bs := startBatches(up.url)
	wait := b.prof.start(ctx, up.proc, up.url, "up-"+strings.ReplaceAll(name, " ", "-"), spec.Duration)
	waitF := b.prof.start(ctx, b.svc.ferret(), b.svc.ferretDebug, "ferretdb-"+strings.ReplaceAll(name, " ", "-"), spec.Duration)
	r := runLoad(ctx, spec)
	wait()
	waitF()
	b.expected += r.Records
	done, err := b.settled(ctx, up.url, b.expected)
	cpu := m.stop()
	if err != nil {
		b.fail("%s: %v", name, err)
		return 0, nil
	}
	elapsed := done.Sub(t0)
	rate := float64(r.Records) / elapsed.Seconds()
	logf("%s: %d records accepted in %s, all counted after %s: %.0f records/s",
		name, r.Records, r.Elapsed.Round(time.Millisecond), elapsed.Round(time.Millisecond), rate)
	rw := row{name: name + " (stored+counted)", load: fmt.Sprintf("%d rec/req, %d conns", spec.PerBody, spec.Conns), cpu: cpu, batches: bs.stop()}
	b.add(rw, r, 0)
	b.rows[len(b.rows)-1].recPerS = rate
	return rate, nil
}

// freshness paces single POSTs at half the end-to-end capacity and times
// each 202 to the WebSocket snapshot that shows it.
func (b *bench) freshness(ctx context.Context, up *upProc, capacity float64) error {
	if capacity <= 0 {
		capacity = 1000
		logf("fresh: no end-to-end figure; pacing at %.0f records/s", capacity/2)
	}
	rate := capacity / 2
	base, err := statsTotal(up.url)
	if err != nil {
		return err
	}
	w, err := watchWS(ctx, up.url)
	if err != nil {
		return err
	}
	if err := w.waitTotal(ctx, base, 10*time.Second); err != nil {
		w.close()
		return fmt.Errorf("fresh: first snapshot: %w", err)
	}
	a := newAcks()
	spec := loadSpec{URL: up.url + "/", Key: b.svc.producerKey, Bodies: b.tr.singles(), PerBody: 1, Conns: b.c.conns,
		Duration: b.c.fresh, Rate: rate, CheckIDs: true, OnSuccess: a.add}
	logf("fresh: %.0f single-record POSTs/s (half of %.0f) for %s, watching /ws", rate, capacity, b.c.fresh)
	m := b.meter(up.proc)
	bs := startBatches(up.url)
	wait := b.prof.start(ctx, up.proc, up.url, "up-fresh", spec.Duration)
	r := runLoad(ctx, spec)
	cpu := m.stop()
	wait()
	b.expected += r.Records
	werr := w.waitTotal(ctx, base+r.Records, b.c.settle)
	frames := w.close()
	if werr != nil {
		b.fail("fresh: %v", werr)
	}
	f := measureFreshness(a, frames, base)
	rw := row{name: "freshness (202 -> /ws)", load: fmt.Sprintf("paced %.0f/s, %d conns", rate, b.c.conns), cpu: cpu, batches: bs.stop()}
	b.add(rw, r, 0)
	last := &b.rows[len(b.rows)-1]
	last.p50, last.p99 = quantile(f.ByTotal, 0.5), quantile(f.ByTotal, 0.99)
	last.ratio = fmt.Sprintf("%d frames", len(frames))
	if r.Late > 0 {
		logf("fresh: %d requests could not be sent on time (the generator or server fell behind)", r.Late)
	}
	if f.Missing > 0 {
		b.fail("fresh: %d acknowledged requests never showed in a snapshot", f.Missing)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.put("fresh_rate", "%.0f", rate)
	b.put("fresh_p50_ms", "%.0f", ms(quantile(f.ByTotal, 0.5)))
	b.put("fresh_p99_ms", "%.0f", ms(quantile(f.ByTotal, 0.99)))
	if len(f.ByLatest) > 0 {
		logf("fresh: by id in \"latest\" (%d records caught): p50 %.0f ms, p99 %.0f ms", len(f.ByLatest),
			ms(quantile(f.ByLatest, 0.5)), ms(quantile(f.ByLatest, 0.99)))
		b.put("fresh_latest_p99_ms", "%.0f", ms(quantile(f.ByLatest, 0.99)))
	}
	if _, err := b.settled(ctx, up.url, b.expected); err != nil {
		b.fail("fresh: %v", err)
	}
	return nil
}

// account checks that MongoDB and /api/stats hold every accepted record once.
func (b *bench) account(ctx context.Context, up *upProc) error {
	total, err := statsTotal(up.url)
	if err != nil {
		return err
	}
	t0 := time.Now()
	stored, err := countDocs(ctx, b.svc.mongoURI, b.database, store.Collection)
	if err != nil {
		return err
	}
	logf("accounting: counted MongoDB documents in %s", time.Since(t0).Round(time.Millisecond))
	lost := max(0, b.expected-min(stored, total))
	double := max(0, total-stored)
	extra := max(0, stored-b.expected)
	logf("accounting: %d accepted, %d in MongoDB, %d in /api/stats", b.expected, stored, total)
	b.put("accepted", "%d", b.expected)
	b.put("stored", "%d", stored)
	b.put("counted", "%d", total)
	b.put("lost", "%d", lost)
	b.put("double_counted", "%d", double)
	if err := snapshotSums(up.url); err != nil {
		b.fail("accounting: %v", err)
	}
	if lost != 0 || double != 0 || extra != 0 || total != b.expected {
		b.fail("accounting: %d accepted, %d stored, %d counted (lost %d, double %d, unacknowledged %d)",
			b.expected, stored, total, lost, double, extra)
	}
	return nil
}

// seedBaseline runs the seed's design under the same single-record load.
func (b *bench) seedBaseline(ctx context.Context, single func(string, time.Duration) loadSpec, ours float64) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	gaddr, err := freeAddr()
	if err != nil {
		return err
	}
	db := b.database + "_seed"
	host, _, _ := strings.Cut(strings.TrimPrefix(b.svc.redisURL, "redis://"), "/")
	p, err := startSelf(ctx, b.svc.dir, "seed", "http://"+addr+"/readyz", "serve-seed",
		"-addr", addr, "-grpc", gaddr, "-mongo", b.svc.mongoURI, "-redis", host, "-db", db)
	if err != nil {
		return err
	}
	defer p.stop(10 * time.Second)
	logf("seed baseline: %d connections, single-record POSTs for %s", b.c.conns, b.c.seed)
	spec := single("http://"+addr+"/", b.c.seed)
	spec.Accept, spec.CheckIDs = http.StatusOK, false
	t0 := time.Now()
	m := b.meter(p)
	r := runLoad(ctx, spec)
	elapsed := time.Since(t0)
	cpu := m.stop()
	stored, err := countDocs(ctx, b.svc.mongoURI, db, "users")
	if err != nil {
		return err
	}
	rate := float64(stored) / elapsed.Seconds()
	rw := row{name: "seed design (stored)", load: fmt.Sprintf("1 rec/req, %d conns", b.c.conns), cpu: cpu, reqs: r.Requests, recs: stored}
	rw.reqPerS, rw.recPerS, rw.p50, rw.p99, rw.errs = r.rps(), rate, r.P50, r.P99, r.Errors
	b.rows = append(b.rows, rw)
	if r.Errors > 0 {
		logf("seed baseline: %d failed requests (first: %s); it stored %d of %d answered", r.Errors, r.FirstErr, stored, r.Requests)
	}
	b.put("seed_records_per_s", "%.0f", rate)
	if ours > 0 && rate > 0 {
		b.put("vs_seed", "%.1f", ours/rate)
		b.rows[len(b.rows)-1].ratio = fmt.Sprintf("ours %.1fx", ours/rate)
	}
	return nil
}

// settled waits until /api/stats total reaches want and returns when it did;
// it fails when the total passes want, stops moving, or settle runs out.
func (b *bench) settled(ctx context.Context, url string, want int64) (time.Time, error) {
	deadline := time.Now().Add(b.c.settle)
	last, lastMove := int64(-1), time.Now()
	for {
		total, err := statsTotal(url)
		now := time.Now()
		if err == nil {
			if total == want {
				return now, nil
			}
			if total > want {
				return now, fmt.Errorf("/api/stats total %d exceeds the %d accepted records", total, want)
			}
			if total != last {
				last, lastMove = total, now
			}
		}
		if now.Sub(lastMove) > 20*time.Second {
			return now, fmt.Errorf("/api/stats total stuck at %d for 20 s, want %d", last, want)
		}
		if now.After(deadline) {
			return now, fmt.Errorf("/api/stats total %d after %s, want %d", last, b.c.settle, want)
		}
		select {
		case <-ctx.Done():
			return now, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// snapshotSums checks that the snapshot's breakdowns each add up to its total.
func snapshotSums(base string) error {
	resp, err := statsClient.Get(base + "/api/stats")
	if err != nil {
		return fmt.Errorf("GET /api/stats: %w", err)
	}
	defer resp.Body.Close()
	type named struct {
		Name  string `json:"name"`
		Count int64  `json:"count"`
	}
	var s struct {
		Total       int64 `json:"total"`
		Departments []struct {
			Total int64 `json:"total"`
		} `json:"departments"`
		Vaccines []named `json:"vaccines"`
		Doses    []named `json:"doses"`
		AgeBands []named `json:"age_bands"`
		Routes   []named `json:"routes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return fmt.Errorf("GET /api/stats: %w", err)
	}
	sum := func(xs []named) (n int64) {
		for _, x := range xs {
			n += x.Count
		}
		return n
	}
	var deps int64
	for _, d := range s.Departments {
		deps += d.Total
	}
	var bad []string
	for _, c := range []struct {
		name string
		n    int64
	}{{"departments", deps}, {"vaccines", sum(s.Vaccines)}, {"doses", sum(s.Doses)}, {"age_bands", sum(s.AgeBands)}, {"routes", sum(s.Routes)}} {
		if c.n != s.Total {
			bad = append(bad, fmt.Sprintf("%s add up to %d", c.name, c.n))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("snapshot total %d, but %s", s.Total, strings.Join(bad, ", "))
	}
	return nil
}

var statsClient = &http.Client{Timeout: 5 * time.Second}

func statsTotal(base string) (int64, error) {
	resp, err := statsClient.Get(base + "/api/stats")
	if err != nil {
		return 0, fmt.Errorf("GET /api/stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /api/stats: status %d", resp.StatusCode)
	}
	var s struct {
		Total int64 `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return 0, fmt.Errorf("GET /api/stats: %w", err)
	}
	return s.Total, nil
}

func (b *bench) print(took time.Duration) {
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tload\treq/s\trecords/s\tratio\tp50 ms\tp99 ms\terrors\t")
	for _, r := range b.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%d\t\n", r.name, r.load, num(r.reqPerS), r.recPerS, r.ratio,
			msStr(r.p50), msStr(r.p99), r.errs)
	}
	tw.Flush()
	fmt.Println("\nCPU cores used during each measurement (2 = the whole of a 2-core machine):")
	for _, r := range b.rows {
		if r.cpu != nil {
			fmt.Printf("  %-40s %s\n", r.name, r.cpu.cores())
		}
	}
	fmt.Println("\nCPU µs per request answered (per record stored where a request holds more than one), each process:")
	for _, r := range b.rows {
		if r.cpu == nil {
			continue
		}
		switch {
		case r.reqs > 0 && r.recs > r.reqs:
			fmt.Printf("  %-40s per record: %s\n", r.name, r.cpu.perUnit(r.recs))
		case r.reqs > 0:
			fmt.Printf("  %-40s %s\n", r.name, r.cpu.perUnit(r.reqs))
		case r.recs > 0:
			fmt.Printf("  %-40s per document: %s\n", r.name, r.cpu.perUnit(r.recs))
		}
	}
	fmt.Println("\nMean records per write (to each route's transport, and per MongoDB InsertMany):")
	for _, r := range b.rows {
		if r.batches != "" {
			fmt.Printf("  %-40s %s\n", r.name, r.batches)
		}
	}
	fmt.Printf("\nservices: redis-server (appendfsync always), FerretDB/SQLite, %s; %d CPUs; took %s\n",
		b.svc.pubsubNote, runtime.NumCPU(), took.Round(time.Second))
	b.printGoals()
	status := "ok"
	if len(b.failures) > 0 {
		status = "FAIL"
	}
	fmt.Printf("RESULT %s checks=%s\n", strings.Join(b.result, " "), status)
}

// printGoals compares the figures with the goals of issue 5. It informs; the
// exit status reflects only the accounting checks.
func (b *bench) printGoals() {
	vals := map[string]float64{}
	for _, kv := range b.result {
		k, v, _ := strings.Cut(kv, "=")
		var f float64
		if _, err := fmt.Sscan(v, &f); err == nil {
			vals[k] = f
		}
	}
	goals := []struct {
		key  string
		min  bool
		goal float64
		what string
	}{
		{"ingest_ratio_default", true, 0.5, "ingest, default split, single POSTs, to the do-nothing handler"},
		{"store_ratio", true, 0.7, "end to end, to raw InsertMany"},
		{"vs_seed", true, 20, "records/s stored, ours to the seed's design"},
		{"fresh_p99_ms", false, 250, "202 to WebSocket snapshot, p99"},
		{"cpu_ratio_up_redis", false, 2, "up's CPU per single-record request, redis route, to the reference's"},
		{"cpu_ratio_up_default", false, 2, "up's CPU per single-record request, default split, to the reference's"},
		{"cpu_ratio_ingest_redis", false, 1.5, "vacunometro ingest alone, redis route, to the reference's"},
		{"cpu_ratio_ingest_pubsub", false, 1.5, "vacunometro ingest alone, pubsub route, to the reference's"},
		{"cpu_ratio_ferretdb", false, 1.3, "FerretDB's CPU per record from single POSTs, to its raw InsertMany's"},
		{"lost", false, 0, "records lost"},
		{"double_counted", false, 0, "records counted twice"},
	}
	header := false
	for _, g := range goals {
		v, ok := vals[g.key]
		if !ok {
			continue
		}
		if !header {
			fmt.Println("\ngoals (issues 5 and 15):")
			header = true
		}
		met := v >= g.goal
		op := ">="
		if !g.min {
			met, op = v <= g.goal, "<="
		}
		state := "met"
		if !met {
			state = "MISSED"
		}
		fmt.Printf("  %-22s %10.2f  goal %s %-6g %-7s %s\n", g.key, v, op, g.goal, state, g.what)
	}
}

func num(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func msStr(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000)
}

// usPer returns the CPU µs process proc used per request (or, with
// perRecord, per record or document) over the rows whose name has prefix
// (their mean when several: a reference measured before and after).
func (b *bench) usPer(prefix, proc string, perRecord bool) (float64, bool) {
	var secs float64
	var units int64
	for _, r := range b.rows {
		if !strings.HasPrefix(r.name, prefix) || r.cpu == nil {
			continue
		}
		v, ok := r.cpu.secsOf(proc)
		if !ok {
			continue
		}
		secs += v
		if perRecord {
			units += r.recs
		} else {
			units += r.reqs
		}
	}
	if units == 0 {
		return 0, false
	}
	return secs / float64(units) * 1e6, true
}

// cpuRatios adds the CPU per request of our processes over the
// reference's (issue 15): cpu_ratio_up_<route>, cpu_ratio_ingest_<route>,
// and FerretDB's per record stored from single POSTs over its per document
// in raw InsertMany, with the µs behind each.
func (b *bench) cpuRatios() {
	ref, ok := b.usPer("reference (", "reference", false)
	if again, ok2 := b.usPer("reference again", "reference", false); ok && ok2 {
		ref = (ref + again) / 2
	}
	if !ok || ref <= 0 {
		return
	}
	b.put("cpu_us_ref", "%.1f", ref)
	if paced, ok := b.usPer("reference paced", "reference", false); ok {
		b.put("cpu_us_ref_paced", "%.1f", paced)
	}
	for _, rt := range []string{"redis", "grpc", "pubsub", "default"} {
		if us, ok := b.usPer("ingest "+rt, "up", false); ok {
			b.put("cpu_us_up_"+rt, "%.1f", us)
			b.put("cpu_ratio_up_"+rt, "%.2f", us/ref)
		}
	}
	for _, rt := range []string{"redis", "grpc", "pubsub"} {
		if us, ok := b.usPer("tiers: ingest "+rt, "ingest", false); ok {
			b.put("cpu_us_ingest_"+rt, "%.1f", us)
			b.put("cpu_ratio_ingest_"+rt, "%.2f", us/ref)
		}
		for _, tier := range []string{"grpc-server", "worker-redis", "worker-pubsub", "realtime"} {
			if us, ok := b.usPer("tiers: ingest "+rt, tier, false); ok && us >= 0.5 {
				b.put("cpu_us_"+strings.ReplaceAll(tier, "-", "_")+"_"+rt, "%.1f", us)
			}
		}
	}
	single, ok1 := b.usPer("e2e single", "ferretdb", true)
	raw, ok2 := b.usPer("MongoDB InsertMany", "ferretdb", true)
	if ok1 && ok2 && raw > 0 {
		b.put("cpu_us_ferretdb_single", "%.1f", single)
		b.put("cpu_us_ferretdb_raw", "%.1f", raw)
		b.put("cpu_ratio_ferretdb", "%.2f", single/raw)
	}
}
