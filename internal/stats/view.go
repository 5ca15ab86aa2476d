package stats

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/schema"
)

var (
	//go:embed commit.lua
	commitLua string
	//go:embed classify.lua
	classifyLua string
	//go:embed swap.lua
	swapLua string
)

// View is the live aggregate view in Redis.
//
// # Exactly once, with bounded memory
//
// A record is counted by the batch whose InsertMany created its document,
// and by no other: MongoDB's unique _id decides, once, which batch that is,
// and the document remembers it (its field b). The sink of every route
// stores a batch in three steps:
//
//  1. Intend: the batch's ids go into the pending hash under a new batch id,
//     with the sink's owner id (a heartbeat key that expires when the
//     process dies).
//  2. InsertMany, each document marked with the batch id. MongoDB reports
//     which ids it already held (redeliveries, client retries of old ids,
//     a racing sink): those belong to another batch and are not counted here.
//  3. Commit: one script removes the intent and counts the fresh records,
//     or counts nothing when the intent is gone (a repair got there first).
//
// So a redelivery or a retry of any age is never counted twice, with no
// per-record state at all: what guarantees it is the pending hash, whose size
// is the batches in flight (the routes' redelivery horizon: only an
// unacknowledged delivery can come back, and nothing is acknowledged before
// its commit). A crash or a failed write between steps 2 and 3 leaves the
// intent behind; the repair (Keeper) finds intents whose owner is dead or
// that are older than RepairAfter, reads the documents of that batch among
// those ids from MongoDB (store.LookupBatch), and commits them: O(what is
// missing), never a scan (one index probe per id: MongoDB's _id index, on
// FerretDB/SQLite the index that embedded.IndexIDs makes; on
// FerretDB/PostgreSQL one probe of the batch index of
// store.PostgresIndexSQL, without which every probe there is a scan of the
// table). It must never count a batch whose insert may
// still add documents (those would then stay uncounted until a rebuild).
// A sink inserts under its process's Lease: its inserts are cut off
// leaseMargin before its heartbeat key can expire, so a dead owner's
// (lapsed heartbeat's) intents are repaired at once; an intent written
// without a lease waits out InsertDeadline too. RepairAfter is well beyond
// the insert deadline, so a live, slow sink is never raced mid-insert.
//
// A full rebuild (Rebuild) scans MongoDB into new keys while commits go on;
// commits made meanwhile also go to a delta and name their batch, the scan
// leaves out those batches and the pending ones, and one script swaps the
// scanned figures plus the delta in. Readers see the old figures until then.
type View struct {
	rdb      redis.UniversalClient
	cat      *catalog.Catalog
	commit   *redis.Script
	classify *redis.Script
	swap     *redis.Script
	routes   []string
	now      func() time.Time
}

// NewView returns the view stored in rdb. routes are the names of the
// delivery routes in display order (the route list, internal/app): the
// split and the per-route counts are shown for those.
func NewView(rdb redis.UniversalClient, cat *catalog.Catalog, routes []string) *View {
	return &View{rdb: rdb, cat: cat, commit: redis.NewScript(commitLua), classify: redis.NewScript(classifyLua),
		swap: redis.NewScript(swapLua), routes: routes, now: time.Now}
}

// intent is what the pending hash holds for a batch between its intent and
// its commit: no personal data, only ids.
type intent struct {
	Owner  string   `json:"o"`
	AtMs   int64    `json:"t"`
	Leased bool     `json:"l,omitempty"` // the owner's inserts end with its lease (Lease)
	IDs    []string `json:"ids"`
}

// Intend records that batch (of owner) is about to be inserted with ids.
// Call it before the InsertMany; Commit removes it. Its insert must end
// within InsertDeadline: the repair counts it after that once owner's
// heartbeat has lapsed.
func (v *View) Intend(ctx context.Context, batch, owner string, ids []string) error {
	return v.intend(ctx, batch, owner, nil, ids)
}

// IntendLeased is Intend for an owner that cuts its inserts off when its
// lease lapses (insert under l.Context()): the repair counts the batch as
// soon as the owner's heartbeat is gone. It renews l.
func (v *View) IntendLeased(ctx context.Context, batch string, l *Lease, ids []string) error {
	return v.intend(ctx, batch, l.Owner(), l, ids)
}

func (v *View) intend(ctx context.Context, batch, owner string, l *Lease, ids []string) error {
	b, err := json.Marshal(intent{Owner: owner, AtMs: v.now().UnixMilli(), Leased: l != nil, IDs: ids})
	if err != nil {
		return fmt.Errorf("stats: encode intent: %w", err)
	}
	// The owner's heartbeat goes with every intent, so that no intent is
	// ever seen without a live owner while its insert may still run.
	sent := time.Now()
	pipe := v.rdb.TxPipeline()
	pipe.HSet(ctx, schema.PendingKey, batch, b)
	pipe.Set(ctx, fmt.Sprintf(schema.OwnerKeyFmt, owner), "1", HeartbeatTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("stats: intent of batch %s: %w", batch, err)
	}
	if l != nil {
		l.renewed(sent)
	}
	return nil
}

// Renew heartbeats under l's owner (its key lives HeartbeatTTL; a sink's
// intents are repaired soon after it lapses) and, when Redis took it,
// extends l.
func (v *View) Renew(ctx context.Context, l *Lease) error {
	sent := time.Now()
	if err := v.rdb.Set(ctx, fmt.Sprintf(schema.OwnerKeyFmt, l.Owner()), "1", HeartbeatTTL).Err(); err != nil {
		return fmt.Errorf("stats: heartbeat: %w", err)
	}
	l.renewed(sent)
	return nil
}

// ErrCommitted is returned by Commit when the batch was committed already
// (its intent is gone): nothing was counted.
var ErrCommitted = errors.New("stats: batch already committed")

// Commit counts fresh, the records batch newly stored (MongoDB holds them),
// and removes the batch's intent, in one step. It returns how many records
// were counted, or ErrCommitted when the batch had been committed before.
func (v *View) Commit(ctx context.Context, batch string, fresh []record.Record) (int, error) {
	now := v.now()
	tally := Tally(fresh)
	agg, days := tally.fields()
	args := make([]any, 0, 9+2*len(agg)+2*len(days)+schema.LatestKept)
	args = append(args, now.UnixMilli(), schema.ChangedChannel, batch, len(fresh), len(agg), len(days), schema.LatestKept,
		schema.RateKeptSeconds, tally.Total)
	for f, n := range agg {
		args = append(args, f, n)
	}
	for f, n := range days {
		args = append(args, f, n)
	}
	// Only the batch's last records can be among the latest: encode those,
	// oldest first; test records are never shown.
	latest := make([]record.Record, 0, schema.LatestKept)
	for i := len(fresh) - 1; i >= 0 && len(latest) < schema.LatestKept; i-- {
		if !fresh[i].Synthetic {
			latest = append(latest, fresh[i])
		}
	}
	for i := len(latest) - 1; i >= 0; i-- {
		b, err := json.Marshal(latestOf(latest[i]))
		if err != nil {
			return 0, fmt.Errorf("stats: encode latest: %w", err)
		}
		args = append(args, string(b))
	}
	keys := []string{schema.AggKey, schema.LatestKey, fmt.Sprintf(schema.RateKeyFmt, now.Unix()), schema.DaysKey, schema.PendingKey,
		schema.RebuildKey, schema.AggDeltaKey, schema.DaysDeltaKey, schema.AppliedKey}
	n, err := v.commit.Run(ctx, v.rdb, keys, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("stats: commit batch %s of %d records: %w", batch, len(fresh), err)
	}
	if n < 0 {
		return 0, ErrCommitted
	}
	return n, nil
}

func latestOf(r record.Record) LatestRecord {
	return LatestRecord{ID: r.ID, Name: record.MaskName(r.Name), DepartmentCode: r.DepartmentCode,
		Department: r.Department, Age: r.Age, Vaccine: r.Vaccine, Dose: r.Dose, Route: r.Route,
		ReceivedAt: r.ReceivedAt}
}

// Total returns the number of records counted.
func (v *View) Total(ctx context.Context) (int64, error) {
	n, err := v.rdb.HGet(ctx, schema.AggKey, "total").Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stats: total: %w", err)
	}
	return n, nil
}

// Reset deletes the view (not the split configuration): tests only; a
// running service rebuilds instead (Rebuild), which never shows a gap.
func (v *View) Reset(ctx context.Context) error {
	keys := []string{schema.AggKey, schema.DaysKey, schema.LatestKey, schema.EpochKey, schema.PendingKey, schema.RebuildKey, schema.RebuildLeaseKey,
		schema.AggNewKey, schema.DaysNewKey, schema.AggDeltaKey, schema.DaysDeltaKey, schema.AppliedKey, schema.CountedKey}
	now := v.now().Unix()
	for s := now - schema.RateKeptSeconds; s <= now+1; s++ {
		keys = append(keys, fmt.Sprintf(schema.RateKeyFmt, s))
	}
	if err := v.rdb.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("stats: reset: %w", err)
	}
	return nil
}

// PublishSplit records the configured weights for the dashboard.
func (v *View) PublishSplit(ctx context.Context, weights map[string]int) error {
	fields := make([]any, 0, 2*len(v.routes))
	for _, r := range v.routes {
		fields = append(fields, r, weights[r])
	}
	pipe := v.rdb.TxPipeline()
	pipe.Del(ctx, schema.SplitKey)
	pipe.HSet(ctx, schema.SplitKey, fields...)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("stats: publish split: %w", err)
	}
	return v.rdb.Publish(ctx, schema.ChangedChannel, "split").Err()
}

// Snapshot reads the view in one round trip and builds the statistics.
func (v *View) Snapshot(ctx context.Context) (*Snapshot, error) {
	now := v.now()
	pipe := v.rdb.Pipeline()
	aggCmd := pipe.HGetAll(ctx, schema.AggKey)
	latestCmd := pipe.LRange(ctx, schema.LatestKey, 0, schema.LatestKept-1)
	splitCmd := pipe.HGetAll(ctx, schema.SplitKey)
	// Records per second over the last 5 whole seconds and the current
	// partial one, so that a burst shows at once.
	const window = 5
	rateKeys := make([]string, window+1)
	for i := range rateKeys {
		rateKeys[i] = fmt.Sprintf(schema.RateKeyFmt, now.Unix()-int64(i))
	}
	rateCmd := pipe.MGet(ctx, rateKeys...)
	rolloutCmd := pipe.Get(ctx, schema.RolloutKey)
	rebuildCmd := pipe.HGetAll(ctx, schema.RebuildKey)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("stats: read view: %w", err)
	}
	agg := aggCmd.Val()
	num := func(field string) int64 {
		n, _ := strconv.ParseInt(agg[field], 10, 64)
		return n
	}
	s := &Snapshot{Total: num("total"), Synthetic: num("synthetic"), Population: v.cat.Population(), GeneratedAt: now.UTC()}
	for _, d := range v.cat.Departments() {
		ds := DepartmentStats{Code: d.Code, Name: d.Name, Population: d.Population}
		for dose := 1; dose <= 4; dose++ {
			ds.Doses[dose-1] = num("d:" + d.Code + ":" + strconv.Itoa(dose))
			ds.Total += ds.Doses[dose-1]
		}
		ds.PeopleVaccinated, ds.FullyVaccinated = ds.Doses[0], ds.Doses[1]
		ds.PeopleVaccinatedPct = pct(ds.PeopleVaccinated, d.Population)
		ds.FullyVaccinatedPct = pct(ds.FullyVaccinated, d.Population)
		s.Departments = append(s.Departments, ds)
	}
	for _, vac := range v.cat.Vaccines() {
		s.Vaccines = append(s.Vaccines, NamedCount{Name: vac.Name, Count: num("v:" + vac.Name)})
	}
	for dose := 1; dose <= 4; dose++ {
		name := strconv.Itoa(dose)
		s.Doses = append(s.Doses, NamedCount{Name: name, Count: num("n:" + name)})
	}
	s.PeopleVaccinated = num("n:1")
	s.FullyVaccinated = num("n:2")
	s.Boosters = num("n:3") + num("n:4")
	s.PeopleVaccinatedPct = pct(s.PeopleVaccinated, s.Population)
	s.FullyVaccinatedPct = pct(s.FullyVaccinated, s.Population)
	for _, band := range record.AgeBands {
		s.AgeBands = append(s.AgeBands, NamedCount{Name: band, Count: num("a:" + band)})
	}
	split := splitCmd.Val()
	for _, r := range v.routes {
		w, _ := strconv.Atoi(split[r])
		s.Routes = append(s.Routes, RouteStats{Name: r, Weight: w, Count: num("r:" + r)})
	}
	s.Latest = []LatestRecord{}
	for _, raw := range latestCmd.Val() {
		var l LatestRecord
		if err := json.Unmarshal([]byte(raw), &l); err == nil {
			s.Latest = append(s.Latest, l)
		}
	}
	var recent int64
	for _, x := range rateCmd.Val() {
		if str, ok := x.(string); ok {
			n, _ := strconv.ParseInt(str, 10, 64)
			recent += n
		}
	}
	elapsed := window + float64(now.UnixNano()%1e9)/1e9
	s.RecordsPerSecond = math.Round(float64(recent)/elapsed*100) / 100
	if raw := rolloutCmd.Val(); raw != "" && json.Valid([]byte(raw)) {
		s.Rollout = json.RawMessage(raw)
	}
	s.Rebuilding = rebuildStatus(rebuildCmd.Val())
	if ms := num("updated_at"); ms > 0 {
		t := time.UnixMilli(ms).UTC()
		s.UpdatedAt = &t
	}
	return s, nil
}

func pct(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return math.Round(100*float64(n)/float64(of)*1e6) / 1e6
}

// Count is an independent tally of records, used by rebuild checks and tests
// to compare what was sent or stored against a snapshot.
type Count struct {
	Total       int64
	Synthetic   int64 // test records: counted here only, in no other figure
	Departments map[string][4]int64
	Vaccines    map[string]int64
	Doses       [4]int64
	AgeBands    map[string]int64
	Routes      map[string]int64
	// Per department: vaccines and age bands; per day, department and dose.
	DeptVaccines map[string]map[string]int64
	DeptBands    map[string]map[string]int64
	Days         map[string]int64 // "<YYYY-MM-DD>|<code>|<dose>"
}

// Tally counts recs.
func Tally(recs []record.Record) Count {
	c := Count{Departments: map[string][4]int64{}, Vaccines: map[string]int64{}, AgeBands: map[string]int64{}, Routes: map[string]int64{},
		DeptVaccines: map[string]map[string]int64{}, DeptBands: map[string]map[string]int64{}, Days: map[string]int64{}}
	c.Add(recs)
	return c
}

// Add counts more records.
func (c *Count) Add(recs []record.Record) {
	for _, r := range recs {
		c.add(r)
	}
}

// add counts one record.
func (c *Count) add(r record.Record) {
	if r.Synthetic {
		c.Synthetic++
		return
	}
	c.Total++
	d := c.Departments[r.DepartmentCode]
	d[r.Dose-1]++
	c.Departments[r.DepartmentCode] = d
	c.Vaccines[r.Vaccine]++
	c.Doses[r.Dose-1]++
	band := record.AgeBand(r.Age)
	c.AgeBands[band]++
	c.Routes[r.Route]++
	if c.DeptVaccines == nil {
		c.DeptVaccines, c.DeptBands, c.Days = map[string]map[string]int64{}, map[string]map[string]int64{}, map[string]int64{}
	}
	if c.DeptVaccines[r.DepartmentCode] == nil {
		c.DeptVaccines[r.DepartmentCode], c.DeptBands[r.DepartmentCode] = map[string]int64{}, map[string]int64{}
	}
	c.DeptVaccines[r.DepartmentCode][r.Vaccine]++
	c.DeptBands[r.DepartmentCode][band]++
	c.Days[record.Day(r)+"|"+r.DepartmentCode+"|"+strconv.Itoa(r.Dose)]++
}

// fields returns c as the view's hash fields: the aggregate's and the days'.
func (c Count) fields() (agg, days map[string]int64) {
	agg = make(map[string]int64, 64)
	if c.Synthetic != 0 {
		agg["synthetic"] = c.Synthetic
	}
	if c.Total == 0 {
		return agg, map[string]int64{}
	}
	agg["total"] = c.Total
	for code, doses := range c.Departments {
		for i, n := range doses {
			if n != 0 {
				agg["d:"+code+":"+strconv.Itoa(i+1)] = n
			}
		}
	}
	for code, m := range c.DeptVaccines {
		for name, n := range m {
			agg["dv:"+code+":"+name] = n
		}
	}
	for code, m := range c.DeptBands {
		for band, n := range m {
			agg["da:"+code+":"+band] = n
		}
	}
	for name, n := range c.Vaccines {
		agg["v:"+name] = n
	}
	for i, n := range c.Doses {
		if n != 0 {
			agg["n:"+strconv.Itoa(i+1)] = n
		}
	}
	for band, n := range c.AgeBands {
		agg["a:"+band] = n
	}
	for r, n := range c.Routes {
		agg["r:"+r] = n
	}
	return agg, c.Days
}

// Diff lists every figure in which s differs from c (empty when they agree).
// Routes are compared only when withRoutes is true.
func (c Count) Diff(s *Snapshot, withRoutes bool) []string {
	var out []string
	check := func(what string, got, want int64) {
		if got != want {
			out = append(out, fmt.Sprintf("%s: snapshot %d, expected %d", what, got, want))
		}
	}
	check("total", s.Total, c.Total)
	check("synthetic", s.Synthetic, c.Synthetic)
	for _, d := range s.Departments {
		want := c.Departments[d.Code]
		for i := range 4 {
			check(fmt.Sprintf("%s dose %d", d.Code, i+1), d.Doses[i], want[i])
		}
	}
	for _, v := range s.Vaccines {
		check("vaccine "+v.Name, v.Count, c.Vaccines[v.Name])
	}
	for i, d := range s.Doses {
		check("dose "+d.Name, d.Count, c.Doses[i])
	}
	for _, a := range s.AgeBands {
		check("age "+a.Name, a.Count, c.AgeBands[a.Name])
	}
	if withRoutes {
		for _, r := range s.Routes {
			check("route "+r.Name, r.Count, c.Routes[r.Name])
		}
	}
	sort.Strings(out)
	return out
}

// String is a one-line summary of c.
func (c Count) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "total=%d", c.Total)
	routes := make([]string, 0, len(c.Routes))
	for r := range c.Routes {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, r := range routes {
		fmt.Fprintf(&b, " %s=%d", r, c.Routes[r])
	}
	return b.String()
}
