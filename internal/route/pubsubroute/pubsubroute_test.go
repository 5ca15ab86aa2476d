package pubsubroute_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
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
			w := pubsubroute.NewWorker(c, route.ConsumerDeps{Sink: s, Catalog: catalog.Default(), Metrics: metrics.New(), Log: testenv.Logger(t)}, pubsubroute.WorkerOptions{})
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

// A message no worker can store goes to the dead-letter topic (with why), instead of being acked
// and lost; the records around it are stored.
func TestPoisonMessageGoesToTheDeadLetterTopic(t *testing.T) {
	_, project := testenv.PubSub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := pubsubroute.Connect(ctx, project, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := pubsubroute.EnsureTopology(ctx, c, pubsubroute.DefaultTopic, pubsubroute.DefaultSubscription); err != nil {
		t.Fatal(err)
	}
	deadSub := "projects/" + project + "/subscriptions/dead-letters"
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: deadSub, Topic: "projects/" + project + "/topics/" + pubsubroute.DefaultDeadLetterTopic,
	}); err != nil {
		t.Fatal(err)
	}
	sink := &countingSink{}
	w := pubsubroute.NewWorker(c, route.ConsumerDeps{Sink: sink, Catalog: catalog.Default(), Metrics: metrics.New(), Log: testenv.Logger(t)}, pubsubroute.WorkerOptions{})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	defer func() { stop(); <-done }()

	pub := c.Publisher(pubsubroute.DefaultTopic)
	defer pub.Stop()
	if _, err := pub.Publish(ctx, &pubsub.Message{Data: []byte("not a RecordBatch \xff\xff"), Attributes: map[string]string{"records": "1"}}).Get(ctx); err != nil {
		t.Fatal(err)
	}

	got := make(chan *pubsub.Message, 1)
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	_ = c.Subscriber("dead-letters").Receive(rctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		select {
		case got <- m:
		default:
		}
		rcancel()
	})
	select {
	case m := <-got:
		if m.Attributes["dead_letter_reason"] != "undecodable" || m.Attributes["source_message_id"] == "" || m.Attributes["records"] != "1" {
			t.Errorf("dead letter attributes = %v", m.Attributes)
		}
		if string(m.Data) != "not a RecordBatch \xff\xff" {
			t.Errorf("dead letter data = %q, want the original bytes", m.Data)
		}
	default:
		t.Fatal("the poison message never reached the dead-letter topic")
	}
	if n := sink.stored(); n != 0 {
		t.Errorf("%d records stored from a poison message", n)
	}
}

type countingSink struct {
	mu sync.Mutex
	n  int
}

func (s *countingSink) Store(_ context.Context, recs []record.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n += len(recs)
	return nil
}

func (s *countingSink) stored() int { s.mu.Lock(); defer s.mu.Unlock(); return s.n }
