package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// MetaCollection holds a few small documents about the records: the epoch
// that ties a Redis view to this collection, and the last public figures.
const MetaCollection = "meta"

// Meta document ids.
const (
	metaEpoch    = "epoch"
	metaSnapshot = "snapshot"
)

// Epoch returns the collection's epoch: a random id made once, when the
// records collection first meets a view. A view in Redis remembers the epoch
// it was built from; a different or missing one means the view belongs to
// other data (MongoDB replaced) or was lost (Redis wiped). created says
// whether this call made it.
func (s *Store) Epoch(ctx context.Context) (epoch string, created bool, err error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var d struct {
		Epoch string `bson:"epoch"`
	}
	err = s.meta.FindOne(ctx, bson.D{{Key: "_id", Value: metaEpoch}}).Decode(&d)
	if err == nil {
		return d.Epoch, false, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return "", false, fmt.Errorf("store: read epoch: %w", err)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	e := hex.EncodeToString(b[:])
	_, err = s.meta.InsertOne(ctx, bson.D{{Key: "_id", Value: metaEpoch}, {Key: "epoch", Value: e}, {Key: "created_at", Value: time.Now().UTC()}})
	if mongo.IsDuplicateKeyError(err) {
		// Another process made it first: use theirs.
		if err := s.meta.FindOne(ctx, bson.D{{Key: "_id", Value: metaEpoch}}).Decode(&d); err != nil {
			return "", false, fmt.Errorf("store: read epoch: %w", err)
		}
		return d.Epoch, false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: create epoch: %w", err)
	}
	return e, true, nil
}

// Figures are the public figures last saved: the view's aggregate fields
// (field -> count) and when they were read.
type Figures struct {
	Fields map[string]int64
	At     time.Time
}

// SaveFigures keeps the public figures outside Redis, so that a view lost
// with Redis is not shown counting up from zero while it is rebuilt.
func (s *Store) SaveFigures(ctx context.Context, f Figures) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	fields := make(bson.D, 0, len(f.Fields))
	for k, v := range f.Fields {
		fields = append(fields, bson.E{Key: k, Value: v})
	}
	_, err := s.meta.ReplaceOne(ctx, bson.D{{Key: "_id", Value: metaSnapshot}},
		bson.D{{Key: "_id", Value: metaSnapshot}, {Key: "at", Value: f.At.UTC()}, {Key: "fields", Value: fields}},
		options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("store: save figures: %w", err)
	}
	return nil
}

// LoadFigures returns the figures last saved, or ok false when none were.
func (s *Store) LoadFigures(ctx context.Context) (f Figures, ok bool, err error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var d struct {
		At     time.Time        `bson:"at"`
		Fields map[string]int64 `bson:"fields"`
	}
	err = s.meta.FindOne(ctx, bson.D{{Key: "_id", Value: metaSnapshot}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Figures{}, false, nil
	}
	if err != nil {
		return Figures{}, false, fmt.Errorf("store: load figures: %w", err)
	}
	return Figures{Fields: d.Fields, At: d.At.UTC()}, true, nil
}
