package testenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/embedded"
	"github.com/vacunometro/vacunometro/internal/store"
)

// FerretPG is FerretDB in this process on a PostgreSQL database of the
// test's own (created here, dropped at the end): the machine's PostgreSQL
// at VAC_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432.
type FerretPG struct {
	t     testing.TB
	base  string // server URL, no database
	DB    string // the PostgreSQL database
	URI   string // FerretDB's MongoDB URI (changes on Restart)
	fdb   *embedded.FerretDB
	psqlH []string
}

// StartFerretPG starts FerretDB on a new PostgreSQL database. It skips the
// test (fails it under CI or VAC_REQUIRE_SERVICES) when PostgreSQL or psql
// is not there.
func StartFerretPG(t testing.TB) *FerretPG {
	t.Helper()
	base := os.Getenv("VAC_TEST_POSTGRES_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432"
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("VAC_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = ""
	if _, err := exec.LookPath("psql"); err != nil {
		Missing(t, "psql is not on PATH (apt-get install postgresql-client)")
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	c, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		Missing(t, "PostgreSQL is not reachable at %s (set VAC_TEST_POSTGRES_URL): %v", host, err)
	}
	_ = c.Close()
	f := &FerretPG{t: t, base: u.String(), DB: "vact" + strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.Itoa(int(seq.Add(1)))}
	f.psqlH = []string{"-X", "-v", "ON_ERROR_STOP=1", "-h", u.Hostname(), "-p", portOf(u)}
	if u.User != nil {
		f.psqlH = append(f.psqlH, "-U", u.User.Username())
	}
	f.psql("postgres", "-c", "CREATE DATABASE "+f.DB)
	t.Cleanup(func() {
		f.stop()
		f.psql("postgres", "-c", "DROP DATABASE IF EXISTS "+f.DB+" WITH (FORCE)")
	})
	f.start()
	return f
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return "5432"
}

// URL is the PostgreSQL URL of the test's database.
func (f *FerretPG) URL() string { return f.base + "/" + f.DB }

func (f *FerretPG) start() {
	f.t.Helper()
	fdb, err := embedded.StartFerretDBPostgres(context.Background(), f.URL(), "127.0.0.1:0", Logger(f.t))
	if err != nil {
		f.t.Fatalf("start FerretDB on PostgreSQL: %v", err)
	}
	f.fdb, f.URI = fdb, fdb.URI
}

func (f *FerretPG) stop() {
	if f.fdb != nil {
		f.fdb.Stop()
		f.fdb = nil
	}
}

// Restart stops FerretDB and starts it again (new sessions on PostgreSQL,
// a new URI).
func (f *FerretPG) Restart() {
	f.t.Helper()
	f.stop()
	f.start()
}

// IndexRecords runs store.PostgresIndexSQL for MongoDB database mongoDB, as
// an operator would with psql.
func (f *FerretPG) IndexRecords(mongoDB string) {
	f.t.Helper()
	cmd := exec.Command("psql", append(f.psqlH, "-q", "-d", f.DB, "-v", "db="+mongoDB, "-f", "-")...)
	cmd.Stdin = strings.NewReader(store.PostgresIndexSQL)
	if out, err := cmd.CombinedOutput(); err != nil {
		f.t.Fatalf("psql postgres_index.sql: %v: %s", err, out)
	}
}

// Query runs one SQL statement on the test's database and returns psql's
// unaligned, tuples-only output.
func (f *FerretPG) Query(q string) string {
	f.t.Helper()
	return strings.TrimSpace(f.psql(f.DB, "-tAc", q))
}

func (f *FerretPG) psql(db string, args ...string) string {
	f.t.Helper()
	out, err := exec.Command("psql", append(append(f.psqlH, "-d", db), args...)...).CombinedOutput()
	if err != nil {
		f.t.Fatalf("psql %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TableStats are PostgreSQL's counters of one table (pg_stat_user_tables).
type TableStats struct {
	SeqScan, SeqTupRead, IdxScan, IdxTupFetch int64
}

// Sub is s minus o.
func (s TableStats) Sub(o TableStats) TableStats {
	return TableStats{s.SeqScan - o.SeqScan, s.SeqTupRead - o.SeqTupRead, s.IdxScan - o.IdxScan, s.IdxTupFetch - o.IdxTupFetch}
}

// CollectionTable is the PostgreSQL table (schema.table) of FerretDB's
// collection coll in MongoDB database mongoDB.
func (f *FerretPG) CollectionTable(mongoDB, coll string) string {
	f.t.Helper()
	tbl := f.Query(fmt.Sprintf(`SELECT _jsonb->>'table' FROM %q._ferretdb_database_metadata WHERE _jsonb->'_id' = to_jsonb('%s'::text)`,
		mongoDB, strings.ReplaceAll(coll, "'", "''")))
	if tbl == "" {
		f.t.Fatalf("no table for %s.%s", mongoDB, coll)
	}
	return fmt.Sprintf("%q.%q", mongoDB, tbl)
}

// Stats reads the counters of table (schema.table, as CollectionTable
// gives). PostgreSQL's sessions publish them at most once a second, so a
// caller waits for the ones it expects (StatsUntil).
func (f *FerretPG) Stats(table string) TableStats {
	f.t.Helper()
	schema, rel, _ := strings.Cut(table, ".")
	out := f.Query(fmt.Sprintf(`SELECT seq_scan, seq_tup_read, coalesce(idx_scan, 0), coalesce(idx_tup_fetch, 0)
		FROM pg_stat_user_tables WHERE schemaname = '%s' AND relname = '%s'`, strings.Trim(schema, `"`), strings.Trim(rel, `"`)))
	var s TableStats
	if _, err := fmt.Sscanf(strings.ReplaceAll(out, "|", " "), "%d %d %d %d", &s.SeqScan, &s.SeqTupRead, &s.IdxScan, &s.IdxTupFetch); err != nil {
		f.t.Fatalf("pg_stat_user_tables of %s: %q: %v", table, out, err)
	}
	return s
}

// StatsUntil polls Stats(table) until done(counters since base) holds or
// timeout passes, and returns the last reading minus base.
func (f *FerretPG) StatsUntil(table string, base TableStats, timeout time.Duration, done func(TableStats) bool) TableStats {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d := f.Stats(table).Sub(base)
		if done(d) || time.Now().After(deadline) {
			return d
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Settled reads table's counters once they stopped moving (sessions
// publish theirs up to a second late, and a closing one as it exits).
func (f *FerretPG) Settled(table string) TableStats {
	f.t.Helper()
	prev := f.Stats(table)
	for i := 0; i < 20; i++ {
		time.Sleep(1100 * time.Millisecond)
		cur := f.Stats(table)
		if cur == prev {
			return cur
		}
		prev = cur
	}
	return prev
}
