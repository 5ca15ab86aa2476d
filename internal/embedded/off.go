//go:build noembed

package embedded

// Built with -tags noembed (the production image, see the Dockerfile): no FerretDB, miniredis or
// pstest is linked in, and `vacunometro up` asks for real services instead of starting its own.

import (
	"context"
	"errors"
	"log/slog"
)

// ErrNotBuiltIn is what the Start functions return in a binary built without embedded services.
var ErrNotBuiltIn = errors.New("this binary was built without embedded services (-tags noembed): set MONGODB_URI, REDIS_URL and PUBSUB_PROJECT (or PUBSUB_EMULATOR_HOST)")

// FerretDB is absent from this build.
type FerretDB struct{ URI string }

// StartFerretDB fails: not built in.
func StartFerretDB(context.Context, string, string, *slog.Logger) (*FerretDB, error) {
	return nil, ErrNotBuiltIn
}

// StartFerretDBPostgres fails: not built in.
func StartFerretDBPostgres(context.Context, string, string, *slog.Logger) (*FerretDB, error) {
	return nil, ErrNotBuiltIn
}

// Stop does nothing.
func (f *FerretDB) Stop() {}

// Redis is absent from this build.
type Redis struct{ URL, Kind string }

// StartRedis fails: not built in.
func StartRedis(context.Context, string, *slog.Logger) (*Redis, error) { return nil, ErrNotBuiltIn }

// Stop does nothing.
func (r *Redis) Stop() {}

// PubSub is absent from this build.
type PubSub struct{ Addr string }

// StartPubSub fails: not built in.
func StartPubSub() (*PubSub, error) { return nil, ErrNotBuiltIn }

// Stop does nothing.
func (p *PubSub) Stop() {}

// Pending is always 0.
func (p *PubSub) Pending() int { return 0 }

// IndexIDs fails: not built in.
func IndexIDs(context.Context, string, string, string) error { return ErrNotBuiltIn }
