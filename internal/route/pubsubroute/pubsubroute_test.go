package pubsubroute_test

import (
	"context"
	"sync"
	"testing"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/protobuf/proto"

	"github.com/vacunometro/vacunometro/internal/catalog"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/route/pubsubroute"
	"github.com/vacunometro/vacunometro/internal/route/routetest"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

func newHarness(t *testing.T) *routetest.Harness {
	_, project := testenv.PubSub(t)
	ctx := context.Background()
	c, err := pubsubroute.Connect(ctx, project, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := pubsubroute.EnsureTopology(ctx, c, pubsubroute.DefaultTopic, pubsubroute.DefaultSubscription); err != nil {
		t.Fatal(err)
	}
	p := pubsubroute.NewPublisher(c, pubsubroute.PublisherOptions{})
	t.Cleanup(func() { _ = p.Close() })
	return &routetest.Harness{
		Route:  p,
		Queued: true,
		Start: func(t *testing.T, s route.Sink) func() {
			w := pubsubroute.NewWorker(c, s, catalog.Default(), metrics.New(), testenv.Logger(t), pubsubroute.WorkerOptions{})
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); _ = w.Run(ctx) }()
			return func() { cancel(); wg.Wait() }
		},
		Duplicate: func(t *testing.T, recs []record.Record) {
			data, _ := proto.Marshal(record.BatchToProto(recs))
			pub := c.Publisher(pubsubroute.DefaultTopic)
			defer pub.Stop()
			if _, err := pub.Publish(context.Background(), &pubsub.Message{Data: data}).Get(context.Background()); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func TestConformance(t *testing.T) { routetest.Run(t, newHarness) }
