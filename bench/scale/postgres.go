package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ownPGConf is the PostgreSQL a deployment sizes for 5-20M records on a
// machine of this one's size (24 GB): the indexes on _id (about 100 MB per
// million records) stay in shared buffers, and checkpoints are far enough
// apart that the full-page writes after each (random _id keys touch pages
// all over both indexes) do not dominate the WAL. PostgreSQL's defaults
// (128 MB of buffers, 1 GB of WAL between checkpoints) are for a small box.
const ownPGConf = "shared_buffers=4GB effective_cache_size=12GB max_wal_size=16GB min_wal_size=1GB " +
	"checkpoint_timeout=30min checkpoint_completion_target=0.9 wal_compression=on wal_buffers=64MB"

// pgServer is where -store postgres keeps its database: the machine's
// PostgreSQL at -pg, or (-pg-own) one started here in the work directory.
type pgServer struct {
	host, port, user string
	db               string // the bench's database (created and dropped)
	stop             func()
}

func (p *pgServer) url() string {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(p.host, p.port), Path: "/" + p.db}
	if p.user != "" {
		u.User = url.User(p.user)
	}
	return u.String()
}

// psql runs psql on database db of p with args.
func (p *pgServer) psql(ctx context.Context, db string, args ...string) *exec.Cmd {
	a := []string{"-X", "-q", "-h", p.host, "-p", p.port, "-d", db}
	if p.user != "" {
		a = append(a, "-U", p.user)
	}
	return exec.CommandContext(ctx, "psql", append(a, args...)...)
}

func parsePG(raw string) (*pgServer, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("-pg: %w", err)
	}
	p := &pgServer{host: u.Hostname(), port: u.Port(), db: strings.TrimPrefix(u.Path, "/"), stop: func() {}}
	if p.port == "" {
		p.port = "5432"
	}
	if u.User != nil {
		p.user = u.User.Username()
	}
	if p.host == "" || p.db == "" || p.db == "postgres" {
		return nil, fmt.Errorf("-pg %q: want postgres://host[:port]/database (a database of the bench's own)", raw)
	}
	return p, nil
}

// startOwnPG initdbs a PostgreSQL cluster in dir and starts it on a free
// port of 127.0.0.1 with conf (space-separated name=value), as the
// postgres user when run as root (PostgreSQL refuses to run as root).
func startOwnPG(ctx context.Context, dir, db, conf string) (*pgServer, error) {
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var as []string
	if os.Geteuid() == 0 {
		pu, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("own PostgreSQL: running as root and no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(pu.Uid)
		gid, _ := strconv.Atoi(pu.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		// postgres must reach dir: the work directory (the bench's, made
		// 0700) is opened to it; above it, say so rather than open them.
		work := filepath.Dir(dir)
		if fi, err := os.Stat(work); err == nil {
			if err := os.Chmod(work, fi.Mode().Perm()|0o001); err != nil {
				return nil, err
			}
		}
		for d := filepath.Dir(work); d != "/" && d != "."; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				return nil, fmt.Errorf("own PostgreSQL: the postgres user cannot enter %s (mode %v): give -dir under /tmp", d, fi.Mode().Perm())
			}
		}
		as = []string{"runuser", "-u", "postgres", "--"}
	}
	cmd := func(ctx context.Context, name string, args ...string) *exec.Cmd {
		full := append(append(append([]string(nil), as...), filepath.Join(bin, name)), args...)
		return exec.CommandContext(ctx, full[0], full[1:]...)
	}
	data := filepath.Join(dir, "data")
	if out, err := cmd(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	_ = l.Close()
	opts := "-c listen_addresses=127.0.0.1 -c port=" + port + " -c unix_socket_directories=" + dir
	for _, kv := range strings.Fields(conf) {
		opts += " -c " + kv
	}
	logf := filepath.Join(dir, "postgres.log")
	if out, err := cmd(ctx, "pg_ctl", "-D", data, "-l", logf, "-o", opts, "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		b, _ := os.ReadFile(logf)
		return nil, fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, b)
	}
	p := &pgServer{host: "127.0.0.1", port: port, user: "postgres", db: db}
	p.stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = cmd(ctx, "pg_ctl", "-D", data, "-m", "fast", "-w", "stop").Run()
	}
	fmt.Printf("own PostgreSQL on 127.0.0.1:%s (%s)\n", port, conf)
	return p, nil
}

// pgBin finds PostgreSQL's server binaries (initdb, pg_ctl): on PATH, or
// Debian's /usr/lib/postgresql/VERSION/bin.
func pgBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(m) == 0 {
		return "", fmt.Errorf("own PostgreSQL: no pg_ctl on PATH or in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
	}
	return filepath.Dir(m[len(m)-1]), nil
}
