package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Database is the database of the records (the producers' collection lives
// beside them, internal/producer).
func (s *Store) Database() *mongo.Database { return s.coll.Database() }

// ProducerIDs returns the ids of the records that producer sent and the
// ingest received at or after since. It reads the whole collection (only
// the id, the producer and the time of each document): FerretDB v1 uses an
// index for exact _id lookups only, so any filter is a scan. progress, when
// set, is called every `every` with the documents read and matched so far.
func (s *Store) ProducerIDs(ctx context.Context, producer string, since time.Time, every time.Duration, progress func(scanned, matched int64)) ([]string, error) {
	fctx, cancel := s.opCtx(ctx)
	proj := bson.D{{Key: "_id", Value: 1}, {Key: "p", Value: 1}, {Key: "received_at", Value: 1}}
	cur, err := s.coll.Find(fctx, bson.D{}, options.Find().SetProjection(proj).SetBatchSize(2000))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("store: scan for producer %q: %w", producer, err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var ids []string
	var scanned int64
	last := time.Now()
	for {
		nctx, cancel := s.opCtx(ctx)
		ok := cur.Next(nctx)
		cancel()
		if !ok {
			break
		}
		var d struct {
			ID         string    `bson:"_id"`
			Producer   string    `bson:"p"`
			ReceivedAt time.Time `bson:"received_at"`
		}
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("store: scan for producer %q: decode: %w", producer, err)
		}
		scanned++
		if d.Producer == producer && !d.ReceivedAt.Before(since) {
			ids = append(ids, d.ID)
		}
		if progress != nil && every > 0 && time.Since(last) >= every {
			progress(scanned, int64(len(ids)))
			last = time.Now()
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("store: scan for producer %q: %w", producer, err)
	}
	if progress != nil {
		progress(scanned, int64(len(ids)))
	}
	return ids, nil
}

// DeleteProducerRecords deletes the records of ids that producer sent, each
// by its exact _id (the index every backend answers from), a few at a
// time, and returns how many it deleted.
func (s *Store) DeleteProducerRecords(ctx context.Context, producer string, ids []string) (int64, error) {
	const parallel = 8
	var (
		deleted atomic.Int64
		errs    = make(chan error, 1)
		sem     = make(chan struct{}, parallel)
		wg      sync.WaitGroup
	)
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			octx, cancel := s.opCtx(ctx)
			defer cancel()
			res, err := s.coll.DeleteOne(octx, bson.D{{Key: "_id", Value: id}, {Key: "p", Value: producer}})
			if err != nil {
				select {
				case errs <- fmt.Errorf("store: delete %s: %w", id, err):
				default:
				}
				return
			}
			deleted.Add(res.DeletedCount)
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return deleted.Load(), err
	default:
	}
	if err := ctx.Err(); err != nil {
		return deleted.Load(), errors.Join(errors.New("store: delete interrupted"), err)
	}
	return deleted.Load(), nil
}
