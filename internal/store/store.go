// Package store provides the system of record: every vaccination record in
// MongoDB, keyed by its id so that storing is idempotent.
package store

import (
	"context"
	"errors"
	"fmt"
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
	owned  bool
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
	StoredAt       time.Time `bson:"stored_at"`
}

func toDoc(r record.Record, now time.Time) doc {
	return doc{ID: r.ID, Name: r.Name, DepartmentCode: r.DepartmentCode, Department: r.Department,
		Age: r.Age, Vaccine: r.Vaccine, Dose: r.Dose, VaccinatedAt: r.VaccinatedAt,
		ReceivedAt: r.ReceivedAt, Route: r.Route, StoredAt: now}
}

func (d doc) record() record.Record {
	return record.Record{ID: d.ID, Name: d.Name, DepartmentCode: d.DepartmentCode, Department: d.Department,
		Age: d.Age, Vaccine: d.Vaccine, Dose: d.Dose, VaccinatedAt: d.VaccinatedAt.UTC(),
		ReceivedAt: d.ReceivedAt.UTC(), Route: d.Route}
}

// Open connects to uri and pings it. The pool is sized for group commit: a
// few long-lived connections, not one per request.
func Open(ctx context.Context, uri, database string) (*Store, error) {
	if database == "" {
		database = "vacunometro"
	}
	opts := options.Client().ApplyURI(uri).
		SetMaxPoolSize(16).
		SetServerSelectionTimeout(10 * time.Second).
		SetTimeout(30 * time.Second)
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
	s := &Store{client: client, coll: client.Database(database).Collection(Collection), owned: true}
	return s, nil
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
func (s *Store) Close(ctx context.Context) error {
	if !s.owned {
		return nil
	}
	return s.client.Disconnect(ctx)
}

// Ping checks the connection (readiness).
func (s *Store) Ping(ctx context.Context) error { return s.client.Ping(ctx, nil) }

// InsertResult tells which records of a batch MongoDB newly stored and which
// it already held (by index into the batch).
type InsertResult struct {
	Fresh, Duplicate []int
}

// Insert stores recs in one unordered InsertMany. Duplicate ids are not
// errors: they are reported in Duplicate. Any other write error fails the
// whole call (records that went in are harmless: a retry finds them as
// duplicates).
func (s *Store) Insert(ctx context.Context, recs []record.Record) (InsertResult, error) {
	if len(recs) == 0 {
		return InsertResult{}, nil
	}
	now := time.Now().UTC()
	docs := make([]any, len(recs))
	for i, r := range recs {
		docs[i] = toDoc(r, now)
	}
	_, err := s.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	res := InsertResult{}
	if err == nil {
		res.Fresh = make([]int, len(recs))
		for i := range recs {
			res.Fresh[i] = i
		}
		return res, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return InsertResult{}, fmt.Errorf("store: insert %d records: %w", len(recs), err)
	}
	dup := make(map[int]bool, len(bwe.WriteErrors))
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 && !mongo.IsDuplicateKeyError(we) {
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

// Get returns the stored records with the given ids (missing ids are left out).
func (s *Store) Get(ctx context.Context, ids []string) ([]record.Record, error) {
	cur, err := s.coll.Find(ctx, bson.M{"_id": bson.M{"$in": ids}})
	if err != nil {
		return nil, fmt.Errorf("store: find %d ids: %w", len(ids), err)
	}
	var docs []doc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("store: read %d ids: %w", len(ids), err)
	}
	out := make([]record.Record, len(docs))
	for i, d := range docs {
		out[i] = d.record()
	}
	return out, nil
}

// Count returns the number of stored records.
func (s *Store) Count(ctx context.Context) (int64, error) {
	n, err := s.coll.CountDocuments(ctx, bson.M{})
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// Scan calls fn with every stored record, batchSize at a time.
func (s *Store) Scan(ctx context.Context, batchSize int, fn func([]record.Record) error) error {
	if batchSize <= 0 {
		batchSize = 1000
	}
	cur, err := s.coll.Find(ctx, bson.M{}, options.Find().SetBatchSize(int32(batchSize)))
	if err != nil {
		return fmt.Errorf("store: scan: %w", err)
	}
	defer cur.Close(ctx)
	buf := make([]record.Record, 0, batchSize)
	for cur.Next(ctx) {
		var d doc
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("store: scan: decode: %w", err)
		}
		buf = append(buf, d.record())
		if len(buf) == batchSize {
			if err := fn(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("store: scan: %w", err)
	}
	if len(buf) > 0 {
		return fn(buf)
	}
	return nil
}

// Drop deletes every record (tests and `vacunometro reset` only).
func (s *Store) Drop(ctx context.Context) error {
	if err := s.coll.Drop(ctx); err != nil {
		return fmt.Errorf("store: drop: %w", err)
	}
	return nil
}
