// Package store provides the system of record: every vaccination record in
// MongoDB, keyed by its id so that storing is idempotent, and a small meta
// collection (the view's epoch, the last public figures).
//
// Only operations that stay cheap at national scale are used on the records
// collection: InsertMany (the unique _id index finds duplicates), lookups by
// exact _id, and one natural-order scan for a full rebuild. No count, no
// range query, no sort: FerretDB v1 answers those by scanning every document
// (CountDocuments over 1M documents takes about 2 minutes on SQLite).
//
// An exact _id is answered from an index on MongoDB itself; on FerretDB v1
// only with an index FerretDB does not make: on SQLite, embedded.IndexIDs
// (which `up` runs); on PostgreSQL, PostgresIndexSQL, run once by whoever
// runs FerretDB there (see that file). Without it FerretDB/PostgreSQL reads
// the whole table for every id.
package store

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/vacunometro/vacunometro/internal/record"
)

// Collection is the MongoDB collection that holds the records.
const Collection = "records"

// Store is a MongoDB collection of records with one long-lived client.
type Store struct {
	client *mongo.Client
	coll   *mongo.Collection
	meta   *mongo.Collection
	// OpTimeout bounds each operation (one InsertMany, one lookup, one
	// getMore of a scan); there is no timeout for a whole scan.
	opTimeout time.Duration
	batchPlan batchPlan // whether a find by batch uses an index (batchIndexed)
}

// doc is the stored form of a record.
type doc struct {
	ID             string    `bson:"_id"`
	Name           string    `bson:"name"`
	DepartmentCode string    `bson:"department_code"`
	Department     string    `bson:"department"`
	Age            int       `bson:"age"`
	Vaccine        string    `bson:"vaccine"`
	Dose           int       `bson:"dose"`
	VaccinatedAt   time.Time `bson:"vaccinated_at,omitempty"`
	ReceivedAt     time.Time `bson:"received_at"`
	Route          string    `bson:"route"`
	Synthetic      bool      `bson:"syn,omitempty"` // a test record, counted apart (record.Record.Synthetic)
	StoredAt       time.Time `bson:"stored_at"`
	// Batch is the sink batch whose InsertMany created the document: the
	// view counts a record once, in that batch's commit (internal/stats).
	// Documents stored before batches existed have none.
	Batch string `bson:"b,omitempty"`
	// Producer is who sent the record (internal/producer); records stored
	// before producers existed have none. Never in public output.
	Producer string `bson:"p,omitempty"`
}

// Document is the document Insert writes for r in batch at storedAt, for
// measurements of raw InsertMany that must write what the pipeline does
// (the bench's storage ceiling).
func Document(r record.Record, batch string, storedAt time.Time) any {
	return toDoc(r, batch, storedAt)
}

func toDoc(r record.Record, batch string, now time.Time) doc {
	return doc{ID: r.ID, Name: r.Name, DepartmentCode: r.DepartmentCode, Department: r.Department,
		Age: r.Age, Vaccine: r.Vaccine, Dose: r.Dose, VaccinatedAt: r.VaccinatedAt,
		ReceivedAt: r.ReceivedAt, Route: r.Route, Synthetic: r.Synthetic, StoredAt: now, Batch: batch, Producer: r.Producer}
}

// Stored is a record as MongoDB holds it, with the batch that stored it.
type Stored struct {
	record.Record
	Batch string
}

// Open connects to uri and pings it. The pool is sized for group commit: a
// few long-lived connections, not one per request.
func Open(ctx context.Context, uri, database string) (*Store, error) {
	if database == "" {
		database = "vacunometro"
	}
	// No client-wide timeout: it would bound a whole scan (the cursor's
	// lifetime). Each operation gets its own deadline (opTimeout) instead.
	opts := options.Client().ApplyURI(uri).
		SetMaxPoolSize(32).
		SetServerSelectionTimeout(10 * time.Second)
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := client.Ping(pctx, nil); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("store: ping %s: %w", redact(uri), err)
	}
	db := client.Database(database)
	s := &Store{client: client, coll: db.Collection(Collection), meta: db.Collection(MetaCollection), opTimeout: 30 * time.Second}
	// Create the collection now (not on the first insert), so that the
	// embedded mode can index it before any record arrives. An existing
	// collection is not an error.
	cctx, cancel2 := context.WithTimeout(ctx, s.opTimeout)
	defer cancel2()
	if err := db.CreateCollection(cctx, Collection); err != nil && !isNamespaceExists(err) {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("store: create collection: %w", err)
	}
	return s, nil
}

// isNamespaceExists reports MongoDB's "collection already exists" (48).
func isNamespaceExists(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && (ce.Code == 48 || ce.Name == "NamespaceExists")
}

// opCtx bounds one operation.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opTimeout)
}

// redact drops credentials from a URI for messages.
func redact(uri string) string {
	cs, err := parseHost(uri)
	if err != nil {
		return "mongodb"
	}
	return cs
}

// Close disconnects.
func (s *Store) Close(ctx context.Context) error { return s.client.Disconnect(ctx) }

// Ping checks the connection (readiness).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	return s.client.Ping(ctx, nil)
}

// InsertResult tells which records of a batch MongoDB newly stored and which
// it already held (by index into the batch).
type InsertResult struct {
	Fresh, Duplicate []int
}

// Insert stores recs in one unordered InsertMany, each document marked with
// batch. Duplicate ids are not errors: they are reported in Duplicate (the
// document already held keeps its data and its batch). Any other write error
// fails the whole call; records that went in are found by the view's repair
// (internal/stats), and a retry finds them as duplicates.
func (s *Store) Insert(ctx context.Context, batch string, recs []record.Record) (InsertResult, error) {
	if len(recs) == 0 {
		return InsertResult{}, nil
	}
	now := time.Now().UTC()
	docs := make([]any, len(recs))
	for i, r := range recs {
		docs[i] = toDoc(r, batch, now)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	// The insert command itself, not InsertMany: the driver's InsertMany
	// decodes every document's _id back out of its BSON with a reflective
	// decoder (to return the ids), a quarter of a worker's CPU under
	// single-record load, for ids we already have. A batch is at most a
	// few thousand documents of a few hundred bytes, far under the 48 MB
	// a message may hold, so there is nothing to split.
	err := s.coll.Database().RunCommand(ctx, bson.D{
		{Key: "insert", Value: s.coll.Name()}, {Key: "documents", Value: docs}, {Key: "ordered", Value: false},
	}).Err()
	res := InsertResult{}
	if err == nil {
		res.Fresh = make([]int, len(recs))
		for i := range recs {
			res.Fresh[i] = i
		}
		return res, nil
	}
	// The driver turns an answer's writeErrors and writeConcernError into a
	// WriteException. Duplicate ids are the only write error we take.
	var wex mongo.WriteException
	if !errors.As(err, &wex) || wex.WriteConcernError != nil || len(wex.WriteErrors) == 0 {
		return InsertResult{}, fmt.Errorf("store: insert %d records: %w", len(recs), err)
	}
	dup := make(map[int]bool, len(wex.WriteErrors))
	for _, we := range wex.WriteErrors {
		if we.Code != 11000 || we.Index < 0 || we.Index >= len(recs) {
			return InsertResult{}, fmt.Errorf("store: insert %d records: record %d: %w", len(recs), we.Index, err)
		}
		dup[we.Index] = true
	}
	for i := range recs {
		if dup[i] {
			res.Duplicate = append(res.Duplicate, i)
		} else {
			res.Fresh = append(res.Fresh, i)
		}
	}
	return res, nil
}

// PostgresIndexSQL is the psql script that gives FerretDB v1 on PostgreSQL
// an index its exact-_id finds use (Lookup), and makes its sessions plan
// each statement with its parameters so that the index is matched. Run it
// with psql on FerretDB's PostgreSQL database (psql -v db=MONGODB_DATABASE
// -f internal/store/postgres_index.sql) before FerretDB first connects and
// again once the records collection exists, or once and then restart
// FerretDB. The product never connects to PostgreSQL itself.
//
//go:embed postgres_index.sql
var PostgresIndexSQL string

// Lookup returns the stored form of each id that MongoDB holds (missing
// ids are left out), with one exact-_id query per id, a few at a time: an
// exact _id is the one filter every backend can answer from an index, where
// FerretDB v1 answers $in, ranges and any limit with a filter by reading the
// whole collection. Each find costs one index probe, so a lookup of k ids
// costs O(k) whatever the collection holds: on MongoDB through its _id
// index, on FerretDB/SQLite through embedded.IndexIDs, on FerretDB/PostgreSQL
// through the GIN index of PostgresIndexSQL (FerretDB sends
// `_jsonb->$1 @> $2`, which its own btree on _jsonb->'_id' cannot serve).
func (s *Store) Lookup(ctx context.Context, ids []string) ([]Stored, error) {
	const parallel = 16
	var (
		mu   sync.Mutex
		out  = make([]Stored, 0, len(ids))
		errs = make(chan error, 1)
		sem  = make(chan struct{}, parallel)
		wg   sync.WaitGroup
	)
	for _, id := range ids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			octx, cancel := s.opCtx(ctx)
			defer cancel()
			raw, err := s.coll.FindOne(octx, bson.D{{Key: "_id", Value: id}}).Raw()
			var d Stored
			if err == nil {
				d, err = decodeStored(raw)
			}
			switch {
			case errors.Is(err, mongo.ErrNoDocuments):
			case err != nil:
				select {
				case errs <- fmt.Errorf("store: lookup %s: %w", id, err):
				default:
				}
			default:
				mu.Lock()
				out = append(out, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	return out, nil
}

// LookupBatch returns the documents that batch stored among ids (the
// ids of its intent): what the view's repair counts for a batch whose
// commit never came. Where the backend answers a find by batch from an
// index (FerretDB/PostgreSQL with postgres_index.sql; batchIndexed), that
// is one query for the batch's documents, about a tenth of the CPU of a
// find per id; elsewhere it is Lookup's exact-_id finds, the documents of
// other batches left out. Either way it costs O(len(ids)), whatever the
// collection holds.
func (s *Store) LookupBatch(ctx context.Context, batch string, ids []string) ([]Stored, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var held []Stored
	var err error
	if s.batchIndexed(ctx) {
		held, err = s.findBatch(ctx, batch, len(ids))
	} else {
		held, err = s.Lookup(ctx, ids)
	}
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	out := held[:0]
	for _, d := range held {
		if d.Batch == batch && want[d.ID] {
			out = append(out, d)
		}
	}
	return out, nil
}

// findBatch reads the documents marked with batch (about n of them).
func (s *Store) findBatch(ctx context.Context, batch string, n int) ([]Stored, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	cur, err := s.coll.Find(ctx, bson.D{{Key: "b", Value: batch}}, options.Find().SetBatchSize(int32(min(n+1, 10_000))))
	if err != nil {
		return nil, fmt.Errorf("store: find batch %s: %w", batch, err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	out := make([]Stored, 0, n)
	for cur.Next(ctx) {
		d, err := decodeStored(cur.Current)
		if err != nil {
			return nil, fmt.Errorf("store: find batch %s: %w", batch, err)
		}
		out = append(out, d)
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("store: find batch %s: %w", batch, err)
	}
	return out, nil
}

// HasRecords reports whether the collection holds any record (one document
// read, whatever the size).
func (s *Store) HasRecords(ctx context.Context) (bool, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	err := s.coll.FindOne(ctx, bson.D{}).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: any record: %w", err)
	}
	return true, nil
}

// Scan calls fn with every stored record, batchSize at a time.
func (s *Store) Scan(ctx context.Context, batchSize int, fn func([]record.Record) error) error {
	buf := make([]record.Record, 0, batchSize)
	return s.ScanStored(ctx, batchSize, func(st []Stored) error {
		buf = buf[:0]
		for _, r := range st {
			buf = append(buf, r.Record)
		}
		return fn(buf)
	})
}

// ScanStored calls fn with every stored record and its batch, batchSize at
// a time, in the collection's natural order (the only order FerretDB v1
// reads without sorting the whole collection). Each read from the server
// (the find, then every getMore) has its own deadline, so a scan of any
// length completes as long as each step answers.
//
// The next batch is read while fn runs on this one, so the server never
// waits for fn: a rebuild then goes at the rate of the scan, not of the
// scan plus its own work. fn must not keep the slice after it returns.
func (s *Store) ScanStored(ctx context.Context, batchSize int, fn func([]Stored) error) error {
	if batchSize <= 0 {
		batchSize = 1000
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	fctx, cancel := s.opCtx(ctx)
	cur, err := s.coll.Find(fctx, bson.D{}, options.Find().SetBatchSize(int32(batchSize)))
	cancel()
	if err != nil {
		return fmt.Errorf("store: scan: %w", err)
	}
	full := make(chan []Stored, 1)
	free := make(chan []Stored, 2)
	free <- make([]Stored, 0, batchSize)
	free <- make([]Stored, 0, batchSize)
	read := make(chan error, 1)
	go func() {
		defer close(full)
		defer cur.Close(context.WithoutCancel(ctx))
		read <- s.readBatches(ctx, cur, batchSize, full, free)
	}()
	for buf := range full {
		if err := fn(buf); err != nil {
			stop()
			for range full {
			}
			return err
		}
		free <- buf[:0]
	}
	return <-read
}

// readBatches decodes the cursor into buffers taken from free and sends
// each full one (and the last, partial one) on full.
func (s *Store) readBatches(ctx context.Context, cur *mongo.Cursor, batchSize int, full, free chan []Stored) error {
	var buf []Stored
	select {
	case buf = <-free:
	case <-ctx.Done():
		return ctx.Err()
	}
	send := func(last bool) bool {
		select {
		case full <- buf:
		case <-ctx.Done():
			return false
		}
		if last {
			return true
		}
		select {
		case buf = <-free:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		var ok bool
		if cur.RemainingBatchLength() > 0 {
			ok = cur.Next(ctx) // in memory: no read, so no deadline to set
		} else {
			nctx, cancel := s.opCtx(ctx)
			ok = cur.Next(nctx)
			cancel()
		}
		if !ok {
			break
		}
		d, err := decodeStored(cur.Current)
		if err != nil {
			return fmt.Errorf("store: scan: %w", err)
		}
		buf = append(buf, d)
		if len(buf) == batchSize && !send(false) {
			return ctx.Err()
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("store: scan: %w", err)
	}
	if len(buf) > 0 && !send(true) {
		return ctx.Err()
	}
	return nil
}

// Drop deletes every record and the meta documents (tests and resets): the
// next epoch is new, so every view built from the old records is rebuilt.
func (s *Store) Drop(ctx context.Context) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if err := s.coll.Drop(ctx); err != nil {
		return fmt.Errorf("store: drop: %w", err)
	}
	if err := s.meta.Drop(ctx); err != nil {
		return fmt.Errorf("store: drop meta: %w", err)
	}
	return nil
}
