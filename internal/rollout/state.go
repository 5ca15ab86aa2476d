package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/schema"
	"github.com/vacunometro/vacunometro/internal/split"
)

// Verdicts of a rollout.
const (
	Running     = "running"
	Promoted    = "promoted"
	RolledBack  = "rolled_back"
	Interrupted = "interrupted"
)

// State is the rollout as the dashboard shows it (Redis key schema.RolloutKey).
type State struct {
	Route   string        `json:"route"`
	Steps   []int         `json:"steps"`   // the route's percentages, as asked
	Step    int           `json:"step"`    // the route's percentage now (0 before the first step)
	Weights split.Weights `json:"weights"` // the split now
	Checks  []Check       `json:"checks"`
	Verdict string        `json:"verdict"` // running, promoted, rolled_back, interrupted
	Reason  string        `json:"reason"`
	// Also: where it started, on what, and the failure budget.
	From         split.Weights `json:"from"`
	Backend      string        `json:"backend"`
	FailedChecks int           `json:"failed_checks"`
	MaxFailures  int           `json:"max_failures"`
	StartedAt    time.Time     `json:"started_at"`
	UpdatedAt    time.Time     `json:"updated_at"`
}

// Publisher makes the rollout's state visible.
type Publisher interface {
	Publish(ctx context.Context, s *State) error
}

// RedisPublisher writes the state as JSON to schema.RolloutKey and announces it with
// PUBLISH vacunometro.changed rollout, in one transaction.
type RedisPublisher struct {
	Client *redis.Client
}

// NewRedisPublisher connects to url (REDIS_URL).
func NewRedisPublisher(url string) (*RedisPublisher, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return &RedisPublisher{Client: redis.NewClient(opts)}, nil
}

func (p *RedisPublisher) Publish(ctx context.Context, s *State) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = p.Client.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, schema.RolloutKey, b, 0)
		pipe.Publish(ctx, schema.ChangedChannel, schema.RolloutNotice)
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish the rollout state to Redis: %w", err)
	}
	return nil
}

// Close releases the Redis client.
func (p *RedisPublisher) Close() error { return p.Client.Close() }
