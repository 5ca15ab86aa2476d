package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/store"
)

func mongoClient(uri string) (*mongo.Client, error) {
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(5 * time.Second).SetTimeout(60 * time.Second))
	if err != nil {
		return nil, fmt.Errorf("mongo connect: %w", err)
	}
	return c, nil
}

// waitMongo pings uri until it answers.
func waitMongo(ctx context.Context, uri string, timeout time.Duration, p *proc) error {
	c, err := mongoClient(uri)
	if err != nil {
		return err
	}
	defer c.Disconnect(context.Background())
	deadline := time.Now().Add(timeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.Ping(pctx, nil)
		cancel()
		if err == nil {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %v; log:\n%s", p.name, p.err, p.tail(20))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("mongodb %s did not answer: %w", uri, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// countDocs counts the documents of database.collection.
// FerretDB on SQLite reads every document to count: about 10 s per 100k.
func countDocs(ctx context.Context, uri, database, collection string) (int64, error) {
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		return 0, fmt.Errorf("mongo connect: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	defer c.Disconnect(context.Background())
	n, err := c.Database(database).Collection(collection).CountDocuments(ctx, bson.D{})
	if err != nil {
		return 0, fmt.Errorf("count %s.%s: %w", database, collection, err)
	}
	return n, nil
}

// storeResult is the raw storage ceiling.
type storeResult struct {
	Docs    int64
	Elapsed time.Duration
}

func (r storeResult) rate() float64 { return float64(r.Docs) / r.Elapsed.Seconds() }

// rawInsertMany writes batches of batchSize documents as the pipeline's
// sink writes them (store.Document: the record's fields, its batch, its
// producer, when it was stored) with one long-lived client and
// `workers` concurrent writers for d: the storage ceiling.
func rawInsertMany(ctx context.Context, uri, database string, recs []record.Record, batchSize, workers int, d time.Duration) (storeResult, error) {
	c, err := mongoClient(uri)
	if err != nil {
		return storeResult{}, err
	}
	defer c.Disconnect(context.Background())
	coll := c.Database(database).Collection(store.Collection)
	_ = coll.Drop(ctx)
	var ids record.IDGenerator
	var docs atomic.Int64
	var firstErr error
	var mu sync.Mutex
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			batch := make([]any, batchSize)
			for i := w; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				now := time.Now().UTC()
				b := stats.NewBatchID()
				for j := range batch {
					r := recs[(i*batchSize+j)%len(recs)]
					r.ID = ids.New(now)
					r.ReceivedAt, r.Route, r.Producer = now, "raw", "local"
					batch[j] = store.Document(r, b, now)
				}
				if _, err := coll.InsertMany(ctx, batch); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("raw InsertMany: %w", err)
					}
					mu.Unlock()
					return
				}
				docs.Add(int64(batchSize))
			}
		}(w)
	}
	wg.Wait()
	res := storeResult{Docs: docs.Load(), Elapsed: time.Since(start)}
	if firstErr != nil {
		return res, firstErr
	}
	_ = coll.Drop(ctx)
	return res, nil
}
