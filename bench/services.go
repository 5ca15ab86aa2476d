package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vacunometro/vacunometro/internal/embedded"
)

// proc is a child process the bench started; it is stopped by its PID (and
// its own process group, for whatever it started in turn).
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startProc runs argv in its own process group with output to logPath.
func startProc(name, logPath string, env []string, argv ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: log: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, argv[0], err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to grace, then kills the process group.
func (p *proc) stop(grace time.Duration) error {
	if p == nil || p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s (pid %d) did not stop within %s; killed", p.name, p.pid(), grace)
	}
	// Anything it left behind in its group.
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	return nil
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// peakRSS returns VmHWM of pid in MiB.
func peakRSS(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("peak rss: %q: %w", rest, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("peak rss: no VmHWM line")
}

// resetPeakRSS starts a new VmHWM window (Linux 4.0+: "5" > clear_refs).
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

func freeAddr() (string, error) {
	port, err := embedded.FreePort()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(port), nil
}

// waitHTTP polls url until it answers 200 or timeout passes; it gives up early
// when p exits.
func waitHTTP(ctx context.Context, url string, timeout time.Duration, p *proc) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited before %s answered (%v); log:\n%s", p.name, url, p.err, p.tail(20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", url, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// services are the shared backends of one bench run.
type services struct {
	dir        string
	redisURL   string
	mongoURI   string
	pubsubHost string
	pubsubNote string
	adminToken string
	// producerKey is the key of the producer "local" the `up` processes
	// make (LOCAL_PRODUCER_KEY) and the load generator sends.
	producerKey string
	// ferretDebug serves FerretDB's process's /debug/pprof.
	ferretDebug string
	procs       []*proc
}

func (s *services) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		if err := s.procs[i].stop(20 * time.Second); err != nil {
			logf("warning: %v", err)
		}
	}
}

// startServices starts redis-server (AOF, fsync always), FerretDB on SQLite in
// a child process of our own binary, and the Pub/Sub emulator unless
// PUBSUB_EMULATOR_HOST names one.
func startServices(ctx context.Context, dir string, pubsubMode string) (*services, error) {
	s := &services{dir: dir, adminToken: adminToken(), producerKey: producerKey()}
	ok := false
	defer func() {
		if !ok {
			s.stop()
		}
	}()

	// Redis.
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server not on PATH (apt-get install -y redis-server)")
	}
	raddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	rdir := filepath.Join(dir, "redis")
	if err := os.MkdirAll(rdir, 0o750); err != nil {
		return nil, fmt.Errorf("redis dir: %w", err)
	}
	_, rport, _ := net.SplitHostPort(raddr)
	rp, err := startProc("redis-server", filepath.Join(dir, "redis.log"), nil, redisBin,
		"--port", rport, "--bind", "127.0.0.1", "--dir", rdir, "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no")
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, rp)
	s.redisURL = "redis://" + raddr
	if err := embedded.WaitRedis(ctx, s.redisURL, 15*time.Second); err != nil {
		return nil, err
	}
	logf("redis-server %s (pid %d, appendfsync always)", raddr, rp.pid())

	// FerretDB in its own process, so that the pipeline, the raw reference
	// and the seed baseline all write to the same MongoDB.
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("own executable: %w", err)
	}
	faddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	daddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	fp, err := startProc("ferretdb", filepath.Join(dir, "ferretdb.log"), nil, self,
		"serve-ferretdb", "-addr", faddr, "-dir", filepath.Join(dir, "ferretdb"), "-debug-addr", daddr)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, fp)
	s.ferretDebug = "http://" + daddr
	s.mongoURI = "mongodb://" + faddr + "/"
	if err := waitMongo(ctx, s.mongoURI, 30*time.Second, fp); err != nil {
		return nil, err
	}
	logf("FerretDB (SQLite) %s (pid %d)", faddr, fp.pid())

	// Pub/Sub.
	switch {
	case pubsubMode != "none" && os.Getenv("PUBSUB_EMULATOR_HOST") != "":
		s.pubsubHost = os.Getenv("PUBSUB_EMULATOR_HOST")
		s.pubsubNote = "emulator at PUBSUB_EMULATOR_HOST"
	case pubsubMode == "none":
		s.pubsubNote = "no Pub/Sub (not needed)"
	case pubsubMode == "embedded":
		s.pubsubNote = "pstest embedded in up"
	default:
		gcloud, err := exec.LookPath("gcloud")
		if err != nil {
			if pubsubMode == "emulator" {
				return nil, errors.New("gcloud not on PATH: cannot start the Pub/Sub emulator (use -pubsub embedded)")
			}
			s.pubsubNote = "pstest embedded in up (no gcloud)"
			break
		}
		paddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Join(dir, "pubsub"), 0o750); err != nil {
			return nil, fmt.Errorf("pubsub dir: %w", err)
		}
		pp, err := startProc("pubsub-emulator", filepath.Join(dir, "pubsub.log"), nil, gcloud,
			"beta", "emulators", "pubsub", "start", "--host-port="+paddr, "--project=local",
			"--data-dir="+filepath.Join(dir, "pubsub"))
		if err != nil {
			return nil, err
		}
		s.procs = append(s.procs, pp)
		logf("starting the Pub/Sub emulator on %s (pid %d; about 7 s)", paddr, pp.pid())
		if err := waitHTTP(ctx, "http://"+paddr+"/", 90*time.Second, pp); err != nil {
			return nil, fmt.Errorf("pubsub emulator: %w", err)
		}
		s.pubsubHost = paddr
		s.pubsubNote = "Google Pub/Sub emulator"
	}
	ok = true
	return s, nil
}

// upProc is a running `vacunometro` process (up, or one tier) and the base
// URL of its HTTP endpoints (/readyz, /metrics, /debug/pprof).
type upProc struct {
	*proc
	url string
}

// soleRoute is the split that sends everything to route.
func soleRoute(route string) string {
	w := map[string]int{"grpc": 0, "redis": 0, "pubsub": 0}
	w[route] = 100
	return fmt.Sprintf("grpc=%d,redis=%d,pubsub=%d", w["grpc"], w["redis"], w["pubsub"])
}

// startUp runs `bin up` against the shared services with the given split.
func startUp(ctx context.Context, bin string, s *services, database, split, tag string) (*upProc, error) {
	grpcAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(s.dir, "up-"+tag)
	if err := os.MkdirAll(data, 0o750); err != nil {
		return nil, fmt.Errorf("up data dir: %w", err)
	}
	args := []string{"up", "--data", data}
	if split != "" {
		args = append(args, "--split", split)
	}
	return startTier(ctx, bin, s, append(s.env(database), "GRPC_SERVER_ADDRESS="+grpcAddr), "vacunometro up", "up-"+tag, "--addr", args...)
}

// env is the environment of every tier of this run.
func (s *services) env(database string) []string {
	env := []string{
		"MONGODB_URI=" + s.mongoURI,
		"MONGODB_DATABASE=" + database,
		"REDIS_URL=" + s.redisURL,
		"PUBSUB_PROJECT=" + database,
		"LOG_LEVEL=warn",
		"ADMIN_TOKEN=" + s.adminToken,
		"LOCAL_PRODUCER_KEY=" + s.producerKey,
		"PUBSUB_EMULATOR_HOST=" + s.pubsubHost,
	}
	return env
}

// ferret is FerretDB's process.
func (s *services) ferret() *proc {
	for _, p := range s.procs {
		if p.name == "ferretdb" {
			return p
		}
	}
	return nil
}

// startSelf runs this binary in one of its server modes and waits for url.
func startSelf(ctx context.Context, dir, name, readyURL string, args ...string) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("own executable: %w", err)
	}
	p, err := startProc(name, filepath.Join(dir, name+".log"), nil, append([]string{self}, args...)...)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, readyURL, 30*time.Second, p); err != nil {
		_ = p.stop(5 * time.Second)
		return nil, err
	}
	return p, nil
}
