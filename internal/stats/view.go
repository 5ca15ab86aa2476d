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
	"github.com/vacunometro/vacunometro/internal/route"
)

// latestKept is how many recent records the view keeps.
const latestKept = 5

// ChangedChannel is the Redis pub/sub channel on which the view announces
// that it counted records; the payload is the new total.
const ChangedChannel = "vacunometro.changed"

// Keys of the view. They share a hash tag so that a Redis Cluster keeps them
// in one slot (the apply script touches them together).
const (
	keyAgg     = "{vac}:agg"     // hash: total, d:<code>:<dose>, v:<vaccine>, n:<dose>, a:<band>, r:<route>, updated_at
	keyCounted = "{vac}:counted" // set of record ids already counted
	keyLatest  = "{vac}:latest"  // list of masked LatestRecord JSON, newest first
	keySplit   = "{vac}:split"   // hash: route -> configured weight
	keyRollout = "{vac}:rollout" // JSON: the last rollout's state (internal/rollout)
	keyRateFmt = "{vac}:rate:%d" // records counted in one Unix second
)

//go:embed apply.lua
var applyLua string

// View is the live aggregate view in Redis. Counting is idempotent per
// record id (a Redis set remembers what was counted), so redeliveries,
// retries and rebuilds racing with live traffic never count a record twice.
type View struct {
	rdb    redis.UniversalClient
	cat    *catalog.Catalog
	script *redis.Script
	now    func() time.Time
}

// NewView returns the view stored in rdb.
func NewView(rdb redis.UniversalClient, cat *catalog.Catalog) *View {
	return &View{rdb: rdb, cat: cat, script: redis.NewScript(applyLua), now: time.Now}
}

// Apply counts every record of recs not counted before: MongoDB must already
// hold them. It returns how many were newly counted and, when any were,
// publishes the new total on ChangedChannel.
func (v *View) Apply(ctx context.Context, recs []record.Record) (int, error) {
	return v.apply(ctx, recs, true)
}

func (v *View) apply(ctx context.Context, recs []record.Record, live bool) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	now := v.now()
	args := make([]any, 0, 3+7*len(recs))
	mode := "live"
	if !live {
		mode = "rebuild"
	}
	args = append(args, now.UnixMilli(), ChangedChannel, mode)
	for i, r := range recs {
		latest := ""
		// Only the batch's last records can be among the latest 5: encode
		// those alone.
		if live && i >= len(recs)-latestKept {
			b, err := json.Marshal(latestOf(r))
			if err != nil {
				return 0, fmt.Errorf("stats: encode latest: %w", err)
			}
			latest = string(b)
		}
		args = append(args, r.ID, r.DepartmentCode, r.Vaccine, r.Dose, record.AgeBand(r.Age), r.Route, latest)
	}
	keys := []string{keyAgg, keyCounted, keyLatest, fmt.Sprintf(keyRateFmt, now.Unix())}
	n, err := v.script.Run(ctx, v.rdb, keys, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("stats: apply %d records: %w", len(recs), err)
	}
	return n, nil
}

func latestOf(r record.Record) LatestRecord {
	return LatestRecord{ID: r.ID, Name: record.MaskName(r.Name), DepartmentCode: r.DepartmentCode,
		Department: r.Department, Age: r.Age, Vaccine: r.Vaccine, Dose: r.Dose, Route: r.Route,
		ReceivedAt: r.ReceivedAt}
}

// Counted reports which of ids the view has already counted.
func (v *View) Counted(ctx context.Context, ids []string) ([]bool, error) {
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	res, err := v.rdb.SMIsMember(ctx, keyCounted, members...).Result()
	if err != nil {
		return nil, fmt.Errorf("stats: counted: %w", err)
	}
	return res, nil
}

// Total returns the number of records counted.
func (v *View) Total(ctx context.Context) (int64, error) {
	n, err := v.rdb.HGet(ctx, keyAgg, "total").Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stats: total: %w", err)
	}
	return n, nil
}

// Reset deletes the view (not the split configuration).
func (v *View) Reset(ctx context.Context) error {
	keys := []string{keyAgg, keyCounted, keyLatest}
	now := v.now().Unix()
	for s := now - 120; s <= now+1; s++ {
		keys = append(keys, fmt.Sprintf(keyRateFmt, s))
	}
	if err := v.rdb.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("stats: reset: %w", err)
	}
	return nil
}

// PublishSplit records the configured weights for the dashboard.
func (v *View) PublishSplit(ctx context.Context, weights map[string]int) error {
	fields := make([]any, 0, 2*len(route.All))
	for _, r := range route.All {
		fields = append(fields, r, weights[r])
	}
	pipe := v.rdb.TxPipeline()
	pipe.Del(ctx, keySplit)
	pipe.HSet(ctx, keySplit, fields...)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("stats: publish split: %w", err)
	}
	return v.rdb.Publish(ctx, ChangedChannel, "split").Err()
}

// Snapshot reads the view in one round trip and builds the statistics.
func (v *View) Snapshot(ctx context.Context) (*Snapshot, error) {
	now := v.now()
	pipe := v.rdb.Pipeline()
	aggCmd := pipe.HGetAll(ctx, keyAgg)
	latestCmd := pipe.LRange(ctx, keyLatest, 0, 4)
	splitCmd := pipe.HGetAll(ctx, keySplit)
	// Records per second over the last 5 whole seconds and the current
	// partial one, so that a burst shows at once.
	const window = 5
	rateKeys := make([]string, window+1)
	for i := range rateKeys {
		rateKeys[i] = fmt.Sprintf(keyRateFmt, now.Unix()-int64(i))
	}
	rateCmd := pipe.MGet(ctx, rateKeys...)
	rolloutCmd := pipe.Get(ctx, keyRollout)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("stats: read view: %w", err)
	}
	agg := aggCmd.Val()
	num := func(field string) int64 {
		n, _ := strconv.ParseInt(agg[field], 10, 64)
		return n
	}
	s := &Snapshot{Total: num("total"), Population: v.cat.Population(), GeneratedAt: now.UTC()}
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
	for _, r := range route.All {
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
	Departments map[string][4]int64
	Vaccines    map[string]int64
	Doses       [4]int64
	AgeBands    map[string]int64
	Routes      map[string]int64
}

// Tally counts recs.
func Tally(recs []record.Record) Count {
	c := Count{Departments: map[string][4]int64{}, Vaccines: map[string]int64{}, AgeBands: map[string]int64{}, Routes: map[string]int64{}}
	c.Add(recs)
	return c
}

// Add counts more records.
func (c *Count) Add(recs []record.Record) {
	for _, r := range recs {
		c.Total++
		d := c.Departments[r.DepartmentCode]
		d[r.Dose-1]++
		c.Departments[r.DepartmentCode] = d
		c.Vaccines[r.Vaccine]++
		c.Doses[r.Dose-1]++
		c.AgeBands[record.AgeBand(r.Age)]++
		c.Routes[r.Route]++
	}
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
	for _, r := range route.All {
		fmt.Fprintf(&b, " %s=%d", r, c.Routes[r])
	}
	return b.String()
}
