// Command scale is `make bench-scale`: the product at the country's size.
// It loads N records (default 5,000,000) through the real ingest of
// `vacunometro up` in NDJSON batches, then measures what a national tracker
// lives with: the ingest rate per million, the time from starting `up` again
// to /readyz, the Redis memory of the view, MongoDB's size on disk, a full
// rebuild next to a raw Find scan of the same collection, the catch-up of
// 10,000 records stored but never counted (a crash between MongoDB and
// Redis), and /api/stats p99. It prints a table and a last RESULT line.
//
//	go run ./bench/scale [-n 5000000] [-store sqlite|postgres [-pg URL | -pg-own]] [-bin bin/vacunometro]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/embedded"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/store"
)

type config struct {
	n, batch, conns, uncounted int
	storeKind, bin, dir, pgURL string
	pgOwn                      bool
	pgConf                     string
}

func main() {
	var c config
	flag.IntVar(&c.n, "n", 5_000_000, "records to load")
	flag.IntVar(&c.batch, "batch", 1000, "records per NDJSON request")
	flag.IntVar(&c.conns, "conns", 8, "concurrent connections")
	flag.IntVar(&c.uncounted, "uncounted", 10_000, "records stored but not counted, for the catch-up")
	flag.StringVar(&c.storeKind, "store", "sqlite", "FerretDB backend: sqlite or postgres")
	flag.StringVar(&c.pgURL, "pg", "postgres://127.0.0.1:5432/vacscale", "PostgreSQL database for -store postgres (created and dropped)")
	flag.BoolVar(&c.pgOwn, "pg-own", false, "-store postgres on a PostgreSQL started here in the work directory with -pg-conf, not the one at -pg (whose database name is kept)")
	flag.StringVar(&c.pgConf, "pg-conf", ownPGConf, "settings of the -pg-own PostgreSQL (name=value ...)")
	flag.StringVar(&c.bin, "bin", "bin/vacunometro", "the vacunometro binary")
	flag.StringVar(&c.dir, "dir", "", "work directory (default: a new temporary one, removed at the end)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

type results struct {
	rows [][2]string
	kv   []string
}

func (r *results) add(name, value, key string, v any) {
	r.rows = append(r.rows, [2]string{name, value})
	if key != "" {
		r.kv = append(r.kv, fmt.Sprintf("%s=%v", key, v))
	}
	fmt.Printf("  %-58s %s\n", name, value)
}

func run(ctx context.Context, c config) error {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if c.dir == "" {
		d, err := os.MkdirTemp("", "vac-scale-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		c.dir = d
	}
	bin, err := filepath.Abs(c.bin)
	if err != nil {
		return err
	}
	fmt.Printf("bench-scale: %d records, FerretDB on %s, in %s\n", c.n, c.storeKind, c.dir)
	// The services, started here so that the bench reads them directly.
	mongoURI, pg, stopMongo, err := startMongo(ctx, c, log)
	if err != nil {
		return err
	}
	defer stopMongo()
	rs, err := embedded.StartRedis(ctx, filepath.Join(c.dir, "redis"), log)
	if err != nil {
		return err
	}
	defer rs.Stop()
	ropt, _ := redis.ParseURL(rs.URL)
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	env := []string{"MONGODB_URI=" + mongoURI, "REDIS_URL=" + rs.URL, "ADDR=" + addr, "LOG_LEVEL=warn"}
	data := filepath.Join(c.dir, "data")
	base := "http://" + addr
	up, err := startUp(ctx, bin, env, addr, data)
	if err != nil {
		return err
	}
	switch c.storeKind {
	case "sqlite":
		if err := embedded.IndexIDs(ctx, filepath.Join(c.dir, "mongo"), "vacunometro", store.Collection); err != nil {
			return err
		}
	case "postgres":
		// The records collection exists now (up made it): its _id index.
		if err := pgIndex(ctx, pg); err != nil {
			return err
		}
	}
	res := &results{}

	// 1. Load.
	fmt.Printf("loading %d records in %d-record batches over %d connections\n", c.n, c.batch, c.conns)
	// `up` made its producer "local" and keeps the key in DATA/producer-key
	// (unless LOCAL_PRODUCER_KEY gave it one).
	key := os.Getenv("LOCAL_PRODUCER_KEY")
	if key == "" {
		b, err := os.ReadFile(filepath.Join(data, "producer-key"))
		if err != nil {
			return fmt.Errorf("the producer key of up: %w", err)
		}
		key = strings.TrimSpace(string(b))
	}
	// On PostgreSQL, the WAL written and the checkpoints begun in each
	// million: a checkpoint's full-page writes fall on the million after it,
	// and say whether a slower million is N or the checkpoint cadence.
	var walMarks []pgWAL
	mark := func() {}
	if pg != nil {
		mark = func() { walMarks = append(walMarks, pgWALNow(ctx, pg)) }
	}
	perMillion, err := load(ctx, base, key, c, mark)
	if err != nil {
		up.stop()
		return err
	}
	// What the sink still had to store and count when the last 202 came:
	// the routes' queues absorb a load faster than MongoDB takes it.
	loaded := time.Now()
	atEnd := viewTotal(base)
	fmt.Printf("  the view counted %d of %d when the load ended; waiting for the rest\n", atEnd, c.n)
	if err := waitTotal(ctx, base, int64(c.n), 30*time.Minute); err != nil {
		up.stop()
		return err
	}
	drain := time.Since(loaded)
	for i, r := range perMillion {
		v := fmt.Sprintf("%.0f", r)
		if i+1 < len(walMarks) && walMarks[i].ok && walMarks[i+1].ok {
			a, b := walMarks[i], walMarks[i+1]
			v += fmt.Sprintf("  (WAL %.0f MB, %d checkpoints begun)", float64(b.lsn-a.lsn)/1e6, b.checkpoints-a.checkpoints)
		}
		res.add(fmt.Sprintf("ingest rate, million %d (records/s)", i+1), v, "", nil)
	}
	res.add("counted when the load ended / stored-and-counted drain after it", fmt.Sprintf("%d / %s", atEnd, drain.Round(time.Second)),
		"drain_s", fmt.Sprintf("%.0f", drain.Seconds()))
	if len(perMillion) > 0 {
		first, last := perMillion[0], perMillion[len(perMillion)-1]
		res.add("ingest rate, last million / first", fmt.Sprintf("%.2f", last/first), "ingest_last_over_first", fmt.Sprintf("%.2f", last/first))
		res.kv = append(res.kv, fmt.Sprintf("ingest_first_rps=%.0f", first), fmt.Sprintf("ingest_last_rps=%.0f", last))
	}

	// 2. Restart: SIGTERM, start again, time to /readyz.
	up.stop()
	t0 := time.Now()
	up, err = startUp(ctx, bin, env, addr, data)
	if err != nil {
		return err
	}
	ready := time.Since(t0)
	defer up.stop()
	res.add("restart: start to /readyz OK", ready.Round(time.Millisecond).String(), "ready_s", fmt.Sprintf("%.2f", ready.Seconds()))

	// 3. Memory and disk.
	mem, fam := redisMemory(ctx, rdb)
	res.add("Redis used_memory (whole server)", mb(mem), "redis_used_mb", fmt.Sprintf("%.1f", float64(mem)/1e6))
	var view int64
	for _, k := range sortedKeys(fam) {
		res.add("  MEMORY USAGE "+k, mb(fam[k]), "", nil)
		if k == "vac:rid:*" {
			res.kv = append(res.kv, fmt.Sprintf("id_claims_mb=%.1f", float64(fam[k])/1e6))
		}
		if strings.HasPrefix(k, "{vac}:") {
			view += fam[k]
		}
	}
	res.add("Redis memory of the view ({vac}:* keys)", mb(view), "view_mb", fmt.Sprintf("%.2f", float64(view)/1e6))
	disk := duBytes(filepath.Join(c.dir, "mongo"))
	if c.storeKind == "postgres" {
		disk = pgSize(ctx, pg)
	}
	res.add("MongoDB size on disk", mb(disk), "mongo_disk_mb", fmt.Sprintf("%.0f", float64(disk)/1e6))

	// 4. /api/stats p99 at N.
	p50, p99 := statsLatency(ctx, base, 300)
	res.add("/api/stats p50 / p99", fmt.Sprintf("%s / %s", p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond)), "stats_p99_ms", fmt.Sprintf("%.2f", float64(p99.Microseconds())/1000))

	// 5. A crash between MongoDB and Redis: batches whose intents and
	// documents are there and whose commits never came, by a dead owner.
	fmt.Printf("catch-up: %d records stored by batches that never committed\n", c.uncounted)
	st, err := store.Open(ctx, mongoURI, "vacunometro")
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	viewW := stats.NewView(rdb, catalog.Default(), route.All)
	recs := synthetic(c.uncounted, "crash")
	// The crashed process inserted under its lease, as a sink does; its
	// last heartbeat is the crash.
	lease := stats.NewLease("crashed-process")
	var crashed time.Time
	for i := 0; i < len(recs); i += 1000 {
		part := recs[i:min(i+1000, len(recs))]
		batch := stats.NewBatchID()
		ids := make([]string, len(part))
		for k, r := range part {
			ids[k] = r.ID
		}
		crashed = time.Now()
		if err := viewW.IntendLeased(ctx, batch, lease, ids); err != nil {
			return err
		}
		if _, err := st.Insert(ctx, batch, part); err != nil {
			return err
		}
	}
	lease.Stop()
	if err := waitTotal(ctx, base, int64(c.n+c.uncounted), 5*time.Minute); err != nil {
		return fmt.Errorf("catch-up: %w", err)
	}
	cu := time.Since(crashed)
	res.add(fmt.Sprintf("catch-up of %d uncounted (from the crash's last heartbeat)", c.uncounted), cu.Round(time.Millisecond).String(), "catchup_s", fmt.Sprintf("%.2f", cu.Seconds()))
	res.add("  of which: the heartbeat lapsing (at most)", stats.HeartbeatTTL.String(), "", nil)

	// 6. Raw Find scan of the same collection, then the full rebuild.
	fmt.Println("raw Find scan of the records collection")
	rawN, rawTook, err := rawScan(ctx, mongoURI)
	if err != nil {
		return err
	}
	rawRate := float64(rawN) / rawTook.Seconds()
	res.add("raw Find scan (records/s)", fmt.Sprintf("%.0f (%d in %s)", rawRate, rawN, rawTook.Round(time.Second)), "raw_scan_rps", fmt.Sprintf("%.0f", rawRate))
	fmt.Println("full rebuild: vacunometro rebuild")
	t0 = time.Now()
	cmd := exec.CommandContext(ctx, bin, "rebuild", "--progress", "10s")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	rb := time.Since(t0)
	rbRate := float64(c.n+c.uncounted) / rb.Seconds()
	res.add("full rebuild (records/s)", fmt.Sprintf("%.0f (%s)", rbRate, rb.Round(time.Second)), "rebuild_rps", fmt.Sprintf("%.0f", rbRate))
	res.add("full rebuild rate / raw Find scan rate", fmt.Sprintf("%.2f", rbRate/rawRate), "rebuild_over_raw", fmt.Sprintf("%.2f", rbRate/rawRate))
	if err := waitTotal(ctx, base, int64(c.n+c.uncounted), time.Minute); err != nil {
		return fmt.Errorf("after the rebuild: %w", err)
	}

	fmt.Printf("\nRESULT n=%d store=%s %s\n", c.n, c.storeKind, strings.Join(res.kv, " "))
	return nil
}

// startMongo starts FerretDB on -store's backend; pg is where its
// PostgreSQL database is (nil on SQLite).
func startMongo(ctx context.Context, c config, log *slog.Logger) (uri string, pg *pgServer, stop func(), err error) {
	if c.storeKind == "sqlite" {
		f, err := embedded.StartFerretDB(ctx, filepath.Join(c.dir, "mongo"), "127.0.0.1:0", log)
		if err != nil {
			return "", nil, nil, err
		}
		return f.URI, nil, f.Stop, nil
	}
	if c.storeKind != "postgres" {
		return "", nil, nil, fmt.Errorf("-store %q: sqlite or postgres", c.storeKind)
	}
	pg, err = parsePG(c.pgURL)
	if err != nil {
		return "", nil, nil, err
	}
	if c.pgOwn {
		if pg, err = startOwnPG(ctx, filepath.Join(c.dir, "pg"), pg.db, c.pgConf); err != nil {
			return "", nil, nil, err
		}
	}
	_ = pg.psql(ctx, "postgres", "-c", "DROP DATABASE IF EXISTS "+pg.db).Run()
	if out, err := pg.psql(ctx, "postgres", "-c", "CREATE DATABASE "+pg.db).CombinedOutput(); err != nil {
		pg.stop()
		return "", nil, nil, fmt.Errorf("create database %s: %v: %s", pg.db, err, out)
	}
	// Before FerretDB connects: its sessions plan with parameters' values.
	if err := pgIndex(ctx, pg); err != nil {
		pg.stop()
		return "", nil, nil, err
	}
	f, err := ferretdb.New(&ferretdb.Config{Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"}, Handler: "postgresql",
		PostgreSQLURL: pg.url(), Logger: log})
	if err != nil {
		pg.stop()
		return "", nil, nil, err
	}
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); f.Run(fctx) }()
	return f.MongoDBURI(), pg, func() {
		cancel()
		<-done
		_ = pg.psql(context.Background(), "postgres", "-c", "DROP DATABASE IF EXISTS "+pg.db).Run()
		pg.stop()
	}, nil
}

// pgIndex runs store.PostgresIndexSQL on pg's database, as an
// operator of FerretDB/PostgreSQL does (see that script).
func pgIndex(ctx context.Context, pg *pgServer) error {
	cmd := pg.psql(ctx, pg.db, "-v", "ON_ERROR_STOP=1", "-v", "db=vacunometro", "-f", "-")
	cmd.Stdin = strings.NewReader(store.PostgresIndexSQL)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("postgres_index.sql: %v: %s", err, out)
	}
	return nil
}

type upProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startUp(ctx context.Context, bin string, env []string, addr, data string) (*upProc, error) {
	cmd := exec.Command(bin, "up", "--addr", addr, "--data", data, "--web", filepath.Join(data, "no-web"))
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(data), "up.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &upProc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("up exited before ready (see %s)", filepath.Join(filepath.Dir(data), "up.log"))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("up not ready after 2 minutes")
		}
	}
}

func (p *upProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func synthetic(n int, prefix string) []record.Record {
	cat := catalog.Default()
	deps, vacs := cat.Departments(), cat.Vaccines()
	now := time.Now().UTC()
	out := make([]record.Record, n)
	for i := range out {
		d := deps[i%len(deps)]
		out[i] = record.Record{ID: fmt.Sprintf("%s-%d-%d", prefix, now.UnixNano(), i), Name: "Ana Lucia Perez Gomez",
			DepartmentCode: d.Code, Department: d.Name, Age: 18 + i%70, Vaccine: vacs[i%len(vacs)].Name, Dose: 1 + i%3,
			ReceivedAt: now, Route: "redis"}
	}
	return out
}

// load posts c.n records and returns the rate of each million (or of the
// whole load when under a million). mark runs at the start and at each
// million, one call at a time.
func load(ctx context.Context, base, key string, c config, mark func()) ([]float64, error) {
	deps := catalog.Default().Departments()
	vacs := []string{"Moderna", "Oxford/AstraZeneca", "Sputnik V", "Pfizer-BioNTech"}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.conns}, Timeout: 2 * time.Minute}
	var (
		next    atomic.Int64
		done    atomic.Int64
		errOnce sync.Once
		firstEr error
		wg      sync.WaitGroup
	)
	batches := (c.n + c.batch - 1) / c.batch
	const million = 1_000_000
	step := million
	if c.n < million {
		step = c.n
	}
	marks := make([]time.Time, 0, c.n/step+1)
	var markMu sync.Mutex
	mark()
	start := time.Now()
	marks = append(marks, start)
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	stopProgress := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopProgress:
				return
			case <-progress.C:
				d := done.Load()
				el := time.Since(start)
				fmt.Printf("  %d of %d records, %.0f/s, %s\n", d, c.n, float64(d)/el.Seconds(), el.Round(time.Second))
			}
		}
	}()
	for w := 0; w < c.conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for {
				b := int(next.Add(1)) - 1
				if b >= batches || ctx.Err() != nil {
					return
				}
				buf.Reset()
				for i := b * c.batch; i < min((b+1)*c.batch, c.n); i++ {
					d := deps[i%len(deps)]
					fmt.Fprintf(&buf, `{"id":"s-%d","name":"Persona Prueba Escala","location":%q,"age":%d,"vaccine_type":%q,"n_dose":%d,"vaccinated_at":"%s"}`+"\n",
						i, d.Name, 18+i%70, vacs[i%4], 1+i%3, time.Date(2021, 3, 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, i%1000).Format(time.DateOnly))
				}
				n := int64(min((b+1)*c.batch, c.n) - b*c.batch)
				for attempt := 0; ; attempt++ {
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/records", bytes.NewReader(buf.Bytes()))
					req.Header.Set("Content-Type", "application/x-ndjson")
					req.Header.Set("Authorization", "Bearer "+key)
					resp, err := client.Do(req)
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode == 202 {
							break
						}
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					if attempt == 20 {
						errOnce.Do(func() { firstEr = err })
						return
					}
					time.Sleep(time.Duration(100*(attempt+1)) * time.Millisecond)
				}
				after := done.Add(n)
				if after/int64(step) != (after-n)/int64(step) {
					markMu.Lock()
					marks = append(marks, time.Now())
					mark()
					markMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(stopProgress)
	if firstEr != nil {
		return nil, fmt.Errorf("load: %w", firstEr)
	}
	sort.Slice(marks, func(i, j int) bool { return marks[i].Before(marks[j]) })
	var rates []float64
	for i := 1; i < len(marks); i++ {
		rates = append(rates, float64(step)/marks[i].Sub(marks[i-1]).Seconds())
	}
	fmt.Printf("  loaded %d records in %s (%.0f/s)\n", c.n, time.Since(start).Round(time.Second), float64(c.n)/time.Since(start).Seconds())
	return rates, nil
}

// viewTotal is /api/stats' total now (-1 when it cannot be read).
func viewTotal(base string) int64 {
	resp, err := http.Get(base + "/api/stats")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var s struct {
		Total int64 `json:"total"`
	}
	if json.NewDecoder(resp.Body).Decode(&s) != nil {
		return -1
	}
	return s.Total
}

func waitTotal(ctx context.Context, base string, want int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last int64
	for time.Now().Before(deadline) {
		var s struct {
			Total      int64           `json:"total"`
			Rebuilding json.RawMessage `json:"rebuilding"`
		}
		resp, err := http.Get(base + "/api/stats")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&s)
			resp.Body.Close()
			if err == nil {
				last = s.Total
				if s.Total == want && len(s.Rebuilding) == 0 {
					return nil
				}
				if s.Total > want {
					return fmt.Errorf("the view counts %d, more than the %d stored", s.Total, want)
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("the view counts %d after %s, want %d", last, timeout, want)
}

func redisMemory(ctx context.Context, rdb *redis.Client) (int64, map[string]int64) {
	info, _ := rdb.Info(ctx, "memory").Result()
	var used int64
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			fmt.Sscan(v, &used)
		}
	}
	fam := map[string]int64{}
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		n, _ := rdb.MemoryUsage(ctx, k, 0).Result()
		family := k
		for _, p := range []string{"{vac}:rate:", "{vac}:owner:", "vac:rid:"} {
			if strings.HasPrefix(k, p) {
				family = p + "*"
			}
		}
		fam[family] += n
	}
	return used, fam
}

func statsLatency(ctx context.Context, base string, n int) (p50, p99 time.Duration) {
	lat := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		resp, err := http.Get(base + "/api/stats")
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		return 0, 0
	}
	return lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
}

func rawScan(ctx context.Context, uri string) (int64, time.Duration, error) {
	cl, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Disconnect(context.Background())
	t0 := time.Now()
	cur, err := cl.Database("vacunometro").Collection(store.Collection).Find(ctx, bson.D{}, options.Find().SetBatchSize(1000))
	if err != nil {
		return 0, 0, err
	}
	defer cur.Close(ctx)
	var n int64
	last := time.Now()
	for cur.Next(ctx) {
		n++
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			fmt.Printf("  %d scanned, %.0f/s\n", n, float64(n)/time.Since(t0).Seconds())
		}
	}
	return n, time.Since(t0), cur.Err()
}

func duBytes(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func pgSize(ctx context.Context, pg *pgServer) int64 {
	out, err := pg.psql(ctx, "postgres", "-tAc", "SELECT pg_database_size('"+pg.db+"')").Output()
	if err != nil {
		return 0
	}
	var n int64
	fmt.Sscan(strings.TrimSpace(string(out)), &n)
	return n
}

// pgWAL is PostgreSQL's WAL position (bytes) and the checkpoints it has
// begun (timed and requested) at one moment; ok is false when they could
// not be read.
type pgWAL struct {
	lsn, checkpoints int64
	ok               bool
}

func pgWALNow(ctx context.Context, pg *pgServer) pgWAL {
	out, err := pg.psql(ctx, "postgres", "-tAc",
		"SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter").Output()
	var w pgWAL
	if err == nil {
		var lsn float64
		n, _ := fmt.Sscanf(strings.TrimSpace(string(out)), "%f|%d", &lsn, &w.checkpoints)
		w.lsn, w.ok = int64(lsn), n == 2
	}
	return w
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func mb(n int64) string { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }

func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
