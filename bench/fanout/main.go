// Command fanout benchmarks the realtime tier's WebSocket fan-out.
//
// It runs one realtime.Hub in this process, fed by a ~2.4 KB snapshot that
// changes 10 times per second and announced through a real redis-server that
// it starts on a free port, and for each client count it starts a child
// process (this binary with -clients-mode) that opens that many WebSocket
// clients. Over each run (default 10 s) it reports the messages delivered per
// second, the server's CPU (from /proc/self/stat), the lag from the change to
// the client receiving it (p50/p99/max; the snapshot carries the change's
// wall-clock time in nanoseconds, both processes share the machine's clock),
// and what was lost: frames skipped by the hub, clients dropped, changes a
// client never saw.
//
//	go run ./bench/fanout                          # 1000,5000,10000 clients, 10 s each
//	go run ./bench/fanout -levels 1000,5000 -duration 5s
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/realtime"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat (100 on
// every Linux platform Go supports).
const clockTicks = 100

type options struct {
	clientsMode  bool
	url          string
	n            int
	levels       string
	duration     time.Duration
	rate         float64
	maxPerSecond float64
	size         int
	dialers      int
	cpuProfile   string
}

func main() {
	var o options
	flag.BoolVar(&o.clientsMode, "clients-mode", false, "run as the client process (started by the benchmark itself)")
	flag.StringVar(&o.url, "url", "", "clients mode: the ws:// URL")
	flag.IntVar(&o.n, "n", 1000, "clients mode: number of clients")
	flag.StringVar(&o.levels, "levels", "1000,5000,10000", "comma-separated client counts, one run each")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per run (at most 50s)")
	flag.Float64Var(&o.rate, "rate", 10, "snapshot changes per second")
	flag.Float64Var(&o.maxPerSecond, "max-per-second", 10, "the hub's coalescing limit (Config.MaxPerSecond)")
	flag.IntVar(&o.size, "size", 2400, "snapshot size in bytes")
	flag.IntVar(&o.dialers, "dialers", 200, "clients mode: concurrent dials")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write the server's CPU profile over the measured runs to this file")
	flag.Parse()

	raiseNoFile()
	var err error
	if o.clientsMode {
		err = runClients(o)
	} else {
		err = runServer(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fanout:", err)
		os.Exit(1)
	}
}

// raiseNoFile lifts the open-file soft limit to the hard limit.
func raiseNoFile() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func noFileLimit() uint64 {
	var l syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

// ---------------------------------------------------------------- server side

// snapshotPrefix starts every snapshot, so that clients read the change's
// sequence number and time without decoding the JSON.
const snapshotPrefix = `{"bench_seq":`

func makeSnapshot(seq int64, at time.Time, size int) []byte {
	b := make([]byte, 0, size+64)
	b = append(b, snapshotPrefix...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"bench_ns":`...)
	b = strconv.AppendInt(b, at.UnixNano(), 10)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, seq*37, 10)
	b = append(b, `,"pad":"`...)
	for len(b) < size-2 {
		b = append(b, "GT-01 Guatemala 0123456789 "[len(b)%27])
	}
	b = append(b, `"}`...)
	return b
}

type level struct {
	clients, connected   int
	msgs                 int64
	msgsPerSec           float64
	expected             float64
	serverCPU, clientCPU float64 // cores
	otherCPU, idleCPU    float64 // cores used by other processes, cores idle
	p50, p99, max        time.Duration
	skipped, dropped     uint64
	missed, disconnected int64
	changes              int64
	connectTime          time.Duration
	serverSentPerSec     float64
	broadcasts           uint64
}

func runServer(o options) error {
	if o.duration <= 0 || o.duration > 50*time.Second {
		return fmt.Errorf("-duration %v: want 0 < d <= 50s (no load runs longer than a minute here)", o.duration)
	}
	var levels []int
	for _, f := range strings.Split(o.levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("-levels %q: %q is not a positive count", o.levels, f)
		}
		levels = append(levels, n)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	rs, err := startRedis()
	if err != nil {
		return err
	}
	defer rs.stop()
	rc := redis.NewClient(&redis.Options{Addr: rs.addr})
	defer rc.Close()

	// The changing snapshot: a new one every 1/rate s, announced on Redis.
	var cur atomic.Pointer[[]byte]
	var seq atomic.Int64
	first := makeSnapshot(0, time.Now(), o.size)
	cur.Store(&first)
	go func() {
		t := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s := seq.Add(1)
			b := makeSnapshot(s, time.Now(), o.size)
			cur.Store(&b)
			if err := rc.Publish(ctx, realtime.DefaultChannel, strconv.FormatInt(s, 10)).Err(); err != nil && ctx.Err() == nil {
				log.Warn("publish", "err", err)
			}
		}
	}()

	reg := prometheus.NewRegistry()
	hub, err := realtime.New(realtime.Config{
		Source:       func(context.Context) (realtime.Snapshot, error) { return realtime.Snapshot{Data: *cur.Load()}, nil },
		Registerer:   reg,
		Redis:        rc,
		MaxConns:     20000,
		MaxPerSecond: o.maxPerSecond,
		Logger:       log,
	})
	if err != nil {
		return err
	}
	go func() { _ = hub.Run(ctx) }()
	defer cancel() // stop the hub before its Redis client closes
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", hub)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	defer hub.Close()
	url := "ws://" + ln.Addr().String() + "/ws"

	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("fan-out benchmark: snapshot %d B, %.0f changes/s, hub MaxPerSecond %.0f, %v per run, redis-server on %s, open-file limit %d, %d CPUs\n",
		len(first), o.rate, o.maxPerSecond, o.duration, rs.addr, noFileLimit(), numCPU())

	var results []level
	for _, n := range levels {
		r, err := runLevel(ctx, o, self, url, n, hub, reg, &seq)
		if err != nil {
			return fmt.Errorf("%d clients: %w", n, err)
		}
		results = append(results, r)
	}

	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clients\tconnected\tconnect s\tchanges\tmsgs/s\texpected/s\tdelivered %\tserver CPU\tserver µs/msg\tclient CPU\tothers CPU\tidle CPU\tp50 ms\tp99 ms\tmax ms\tskipped\tdropped\tmissed\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%d\t%d\t%.1f\t%d\t%.0f\t%.0f\t%.1f\t%.2f\t%.1f\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%d\t\n",
			r.clients, r.connected, r.connectTime.Seconds(), r.changes, r.msgsPerSec, r.expected,
			100*r.msgsPerSec/max(r.expected, 1), r.serverCPU, usPerMsg(r), r.clientCPU, r.otherCPU, r.idleCPU,
			ms(r.p50), ms(r.p99), ms(r.max), r.skipped, r.dropped+uint64(r.disconnected), r.missed)
	}
	tw.Flush()
	fmt.Println("(CPU in cores; server µs/msg = server CPU time per delivered message; others = the rest of the machine during the run, idle = unused;")
	fmt.Println(" expected/s = connected clients x changes/s; skipped = frames a slow client skipped in the hub; dropped = clients disconnected;")
	fmt.Println(" missed = changes a client never saw, coalesced away or skipped; lag = change made -> client read)")
	if len(results) > 1 {
		base := results[0]
		for _, r := range results[1:] {
			fmt.Printf("%d vs %d clients: x%.1f clients, x%.1f msgs/s, x%.1f server CPU, x%.1f p99 lag\n",
				r.clients, base.clients, float64(r.clients)/float64(base.clients),
				r.msgsPerSec/max(base.msgsPerSec, 1), r.serverCPU/max(base.serverCPU, 0.001),
				float64(r.p99)/max(float64(base.p99), 1))
		}
	}
	for _, r := range results {
		fmt.Printf("RESULT fanout_clients=%d msgs_per_s=%.0f p50_ms=%.1f p99_ms=%.1f server_cpu_cores=%.2f server_us_per_msg=%.1f client_cpu_cores=%.2f others_cpu_cores=%.2f drops=%d missed=%d\n",
			r.clients, r.msgsPerSec, ms(r.p50), ms(r.p99), r.serverCPU, usPerMsg(r), r.clientCPU, r.otherCPU,
			r.skipped+r.dropped+uint64(r.disconnected), r.missed)
	}
	return nil
}

// usPerMsg is the server's CPU time per delivered message, which depends
// less on what else the machine runs than the rates do.
func usPerMsg(r level) float64 { return r.serverCPU * 1e6 / max(r.msgsPerSec, 1) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\nprocessor")) + 1
}

func runLevel(ctx context.Context, o options, self, url string, n int, hub *realtime.Hub, reg *prometheus.Registry, seq *atomic.Int64) (level, error) {
	r := level{clients: n}
	fmt.Printf("[%d clients] starting the client process\n", n)
	cmd := exec.CommandContext(ctx, self, "-clients-mode", "-url", url, "-n", strconv.Itoa(n),
		"-dialers", strconv.Itoa(o.dialers), "-duration", o.duration.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return r, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return r, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer func() {
		_ = stdin.Close()
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	lines := bufio.NewScanner(stdout)
	ready, err := expectLine(lines, "READY")
	if err != nil {
		return r, err
	}
	r.connected = ready.int("connected")
	r.connectTime = time.Since(start)
	fmt.Printf("[%d clients] %d connected in %.1fs (%d failed)\n", n, r.connected, r.connectTime.Seconds(), ready.int("failed"))
	deadline := time.Now().Add(30 * time.Second)
	for hub.Clients() < r.connected && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}

	if o.cpuProfile != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", o.cpuProfile, n))
		if err != nil {
			return r, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return r, err
		}
		defer pprof.StopCPUProfile()
	}
	busy0, idle0 := machineTicks()
	cpu0, st0, seq0, t0 := cpuTicks("self"), hubCounters(reg), seq.Load(), time.Now()
	ccpu0 := cpuTicks(strconv.Itoa(cmd.Process.Pid))
	if _, err := io.WriteString(stdin, "GO\n"); err != nil {
		return r, err
	}
	progress := time.NewTicker(2 * time.Second)
	done := make(chan struct{})
	go func() {
		defer progress.Stop()
		for {
			select {
			case <-done:
				return
			case <-progress.C:
				st := hubCounters(reg)
				el := time.Since(t0).Seconds()
				fmt.Printf("[%d clients] %4.1fs: %d clients, %.0f frames/s sent, %d skipped, %d dropped\n",
					n, el, st.Clients, float64(st.MessagesSent-st0.MessagesSent)/el,
					st.FramesSkipped-st0.FramesSkipped, st.ClientsDrop-st0.ClientsDrop)
			}
		}
	}()
	res, err := expectLine(lines, "DONE")
	close(done)
	if err != nil {
		return r, err
	}
	ccpu1 := cpuTicks(strconv.Itoa(cmd.Process.Pid))
	cpu1, st1, seq1, t1 := cpuTicks("self"), hubCounters(reg), seq.Load(), time.Now()
	busy1, idle1 := machineTicks()
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		return r, fmt.Errorf("client process: %w", err)
	}

	wall := res.dur("window")
	if wall <= 0 {
		wall = t1.Sub(t0)
	}
	r.msgs = int64(res.int("msgs"))
	r.msgsPerSec = float64(r.msgs) / wall.Seconds()
	r.changes = seq1 - seq0
	r.expected = float64(r.connected) * o.rate
	r.serverCPU = float64(cpu1-cpu0) / clockTicks / t1.Sub(t0).Seconds()
	r.clientCPU = float64(ccpu1-ccpu0) / clockTicks / t1.Sub(t0).Seconds()
	r.otherCPU = max(0, float64(busy1-busy0)/clockTicks/t1.Sub(t0).Seconds()-r.serverCPU-r.clientCPU)
	r.idleCPU = float64(idle1-idle0) / clockTicks / t1.Sub(t0).Seconds()
	r.p50, r.p99, r.max = res.dur("p50"), res.dur("p99"), res.dur("max")
	r.skipped = st1.FramesSkipped - st0.FramesSkipped
	r.dropped = st1.ClientsDrop - st0.ClientsDrop
	r.missed = int64(res.int("missed"))
	r.disconnected = int64(res.int("disconnected"))
	r.broadcasts = st1.Broadcasts - st0.Broadcasts
	r.serverSentPerSec = float64(st1.MessagesSent-st0.MessagesSent) / t1.Sub(t0).Seconds()
	fmt.Printf("[%d clients] %.0f msgs/s delivered (server wrote %.0f/s, %d broadcasts of %d changes), server %.2f cores, clients %.2f cores, lag p50 %.1f ms p99 %.1f ms max %.1f ms\n",
		n, r.msgsPerSec, r.serverSentPerSec, r.broadcasts, r.changes, r.serverCPU, r.clientCPU, ms(r.p50), ms(r.p99), ms(r.max))

	// Let the hub see the clients leave before the next run.
	deadline = time.Now().Add(30 * time.Second)
	for hub.Clients() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return r, nil
}

// kv is a "WORD k=v k=v" line from the client process.
type kv map[string]string

func (m kv) int(k string) int {
	n, _ := strconv.Atoi(m[k])
	return n
}

func (m kv) dur(k string) time.Duration {
	d, _ := time.ParseDuration(m[k])
	return d
}

func expectLine(sc *bufio.Scanner, word string) (kv, error) {
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != word {
			continue
		}
		m := kv{}
		for _, p := range f[1:] {
			k, v, _ := strings.Cut(p, "=")
			m[k] = v
		}
		return m, nil
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("client process ended before %s", word)
}

// machineTicks returns the busy and idle ticks of all CPUs (/proc/stat).
func machineTicks() (busy, idle uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal guest guest_nice
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		switch {
		case i == 3 || i == 4: // idle, iowait
			idle += n
		case i < 8: // user nice system irq softirq steal (guest time is already in user)
			busy += n
		}
	}
	return busy, idle
}

// cpuTicks returns utime+stime of /proc/PID/stat in clock ticks.
func cpuTicks(pid string) uint64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may contain spaces) start at state (field 3).
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return u + s
}

type redisProc struct {
	addr string
	cmd  *exec.Cmd
	dir  string
}

func startRedis() (*redisProc, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is needed for the change notices: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir, err := os.MkdirTemp("", "fanout-redis-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r := &redisProc{addr: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd, dir: dir}
	c := redis.NewClient(&redis.Options{Addr: r.addr})
	defer c.Close()
	for i := 0; ; i++ {
		if err := c.Ping(context.Background()).Err(); err == nil {
			return r, nil
		} else if i == 250 {
			r.stop()
			return nil, fmt.Errorf("redis-server on %s not answering: %w", r.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisProc) stop() {
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	_ = os.RemoveAll(filepath.Clean(r.dir))
}

// ---------------------------------------------------------------- client side

// lagHist counts lags in 100 µs buckets up to 10 s.
type lagHist struct {
	buckets [100_000]atomic.Int64
	over    atomic.Int64
	max     atomic.Int64
}

const bucketWidth = 100 * time.Microsecond

func (h *lagHist) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	i := int(d / bucketWidth)
	if i >= len(h.buckets) {
		h.over.Add(1)
		return
	}
	h.buckets[i].Add(1)
}

func (h *lagHist) quantile(q float64) time.Duration {
	var total int64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	total += h.over.Load()
	if total == 0 {
		return 0
	}
	want := int64(q*float64(total) + 0.5)
	var acc int64
	for i := range h.buckets {
		acc += h.buckets[i].Load()
		if acc >= want {
			return time.Duration(i+1) * bucketWidth
		}
	}
	return time.Duration(h.max.Load())
}

type clientStats struct {
	measuring    atomic.Bool
	msgs         atomic.Int64
	missed       atomic.Int64
	disconnected atomic.Int64
	lag          lagHist
}

func runClients(o options) error {
	if o.url == "" || o.n <= 0 {
		return errors.New("clients mode needs -url and -n")
	}
	if lim := noFileLimit(); uint64(o.n)+64 > lim {
		return fmt.Errorf("%d clients need more open files than the limit %d", o.n, lim)
	}
	st := &clientStats{}
	dialer := websocket.Dialer{HandshakeTimeout: 20 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 256}
	sem := make(chan struct{}, o.dialers)
	var wg sync.WaitGroup
	var connected, failed atomic.Int64
	var firstErr atomic.Value
	for i := 0; i < o.n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn *websocket.Conn
			var err error
			for attempt := 0; attempt < 3; attempt++ {
				if conn, _, err = dialer.Dial(o.url, nil); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			<-sem
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			if c := connected.Add(1); c%1000 == 0 {
				fmt.Fprintf(os.Stderr, "  clients: %d/%d connected\n", c, o.n)
			}
			go readLoop(conn, st)
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "  clients: %d dials failed, first: %v\n", failed.Load(), e)
	}
	fmt.Printf("READY connected=%d failed=%d\n", connected.Load(), failed.Load())

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() && strings.TrimSpace(in.Text()) != "GO" {
	}
	start := time.Now()
	st.measuring.Store(true)
	time.Sleep(o.duration)
	st.measuring.Store(false)
	window := time.Since(start)
	fmt.Printf("DONE msgs=%d window=%s p50=%s p99=%s max=%s missed=%d disconnected=%d\n",
		st.msgs.Load(), window, st.lag.quantile(0.50), st.lag.quantile(0.99),
		time.Duration(st.lag.max.Load()), st.missed.Load(), st.disconnected.Load())
	// Stay connected until the benchmark has read the hub's counters.
	for in.Scan() {
	}
	return nil
}

// readLoop reads frames, taking the change's sequence number and time from
// the snapshot's first bytes and discarding the rest.
func readLoop(conn *websocket.Conn, st *clientStats) {
	defer conn.Close()
	head := make([]byte, 64)
	var last int64 = -1
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			if st.measuring.Load() {
				st.disconnected.Add(1)
			}
			return
		}
		n, _ := io.ReadFull(r, head)
		_, _ = io.Copy(io.Discard, r)
		now := time.Now()
		seq, at, ok := parseHead(head[:n])
		if !ok {
			continue
		}
		if st.measuring.Load() {
			st.msgs.Add(1)
			st.lag.add(now.Sub(time.Unix(0, at)))
			if last >= 0 && seq > last+1 {
				st.missed.Add(seq - last - 1)
			}
		}
		last = seq
	}
}

// parseHead reads `{"bench_seq":S,"bench_ns":T,`.
func parseHead(b []byte) (seq, at int64, ok bool) {
	b, found := bytes.CutPrefix(b, []byte(snapshotPrefix))
	if !found {
		return 0, 0, false
	}
	i := bytes.IndexByte(b, ',')
	if i < 0 {
		return 0, 0, false
	}
	seq, err := strconv.ParseInt(string(b[:i]), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	b, found = bytes.CutPrefix(b[i:], []byte(`,"bench_ns":`))
	if !found {
		return 0, 0, false
	}
	j := bytes.IndexByte(b, ',')
	if j < 0 {
		return 0, 0, false
	}
	at, err = strconv.ParseInt(string(b[:j]), 10, 64)
	return seq, at, err == nil
}

// hubStats are the hub's counters, read from its metrics.
type hubStats struct {
	Clients                                              int
	Broadcasts, MessagesSent, FramesSkipped, ClientsDrop uint64
}

func hubCounters(reg *prometheus.Registry) hubStats {
	var st hubStats
	mfs, err := reg.Gather()
	if err != nil {
		return st
	}
	for _, mf := range mfs {
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		switch mf.GetName() {
		case "vacunometro_realtime_clients":
			st.Clients = int(sum)
		case "vacunometro_realtime_broadcasts_total":
			st.Broadcasts = uint64(sum)
		case "vacunometro_realtime_messages_sent_total":
			st.MessagesSent = uint64(sum)
		case "vacunometro_realtime_frames_skipped_total":
			st.FramesSkipped = uint64(sum)
		case "vacunometro_realtime_clients_dropped_total":
			st.ClientsDrop = uint64(sum)
		}
	}
	return st
}
