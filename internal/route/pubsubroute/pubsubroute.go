// Package pubsubroute provides the Google Cloud Pub/Sub route: the ingest
// publishes each group-committed batch as one message and answers once
// Pub/Sub has acknowledged the publish; workers receive messages, store them
// through the sink, then ack (or nack, for redelivery).
package pubsubroute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/vacunometro/vacunometro/internal/backoff"
	"github.com/vacunometro/vacunometro/internal/batch"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
)

// Default resource ids.
const (
	DefaultTopic        = "vacunometro-records"
	DefaultSubscription = "vacunometro-records-sink"
	// DefaultDeadLetterTopic receives the messages no worker can ever store
	// (undecodable, or records the catalog refuses), as infra/pubsub.tf's
	// dead_letter_policy does after max_delivery_attempts.
	DefaultDeadLetterTopic = "vacunometro-records-dead-letter"
)

// Connect returns a client for project. With addr (an emulator or pstest
// host:port) it connects there without credentials; otherwise the library
// reads PUBSUB_EMULATOR_HOST or uses Application Default Credentials.
func Connect(ctx context.Context, project, addr string) (*pubsub.Client, error) {
	if project == "" {
		return nil, errors.New("pubsub route: no project (set PUBSUB_PROJECT)")
	}
	var opts []option.ClientOption
	if addr != "" {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, fmt.Errorf("pubsub route: dial %s: %w", addr, err)
		}
		opts = append(opts, option.WithGRPCConn(conn))
	}
	c, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, fmt.Errorf("pubsub route: client: %w", err)
	}
	return c, nil
}

// resource is the full name of the topic or subscription id in c's
// project (kind "topics" or "subscriptions"); a full name stays as it is.
func resource(c *pubsub.Client, kind, id string) string {
	if strings.HasPrefix(id, "projects/") {
		return id
	}
	return fmt.Sprintf("projects/%s/%s/%s", c.Project(), kind, id)
}

// EnsureTopology creates the topic and the subscription when they do not
// exist (on Google Cloud, Terraform creates them; this is for emulators).
func EnsureTopology(ctx context.Context, c *pubsub.Client, topic, sub string) error {
	topicName := resource(c, "topics", topic)
	_, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topicName})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("pubsub route: create topic %s: %w", topic, err)
	}
	dead := resource(c, "topics", topic+"-dead-letter")
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: dead}); err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("pubsub route: create topic %s-dead-letter: %w", topic, err)
	}
	_, err = c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name:  resource(c, "subscriptions", sub),
		Topic: topicName,
		// Short: a message held by a worker that died (or pulled by a
		// stream that was closing) comes back within seconds; a live
		// worker's client extends the deadline while it works. (Nacking on
		// shutdown, ShutdownBehaviorNackImmediately, made the emulator stop
		// delivering to the next subscriber in our tests: not used.)
		AckDeadlineSeconds: 10,
	})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("pubsub route: create subscription %s: %w", sub, err)
	}
	return nil
}

// PublisherOptions tune the publisher.
type PublisherOptions struct {
	Topic       string // default DefaultTopic
	MaxBatch    int    // records per message (default 500)
	MaxInFlight int    // concurrent publishes (default route.DefaultInFlight)
}

// Publisher is the ingest side. Each group-committed batch is one message
// in one Publish call of the generated client (with its default retries:
// Unavailable, DeadlineExceeded, ... backing off from 100 ms, within the
// flush's 15 s), not through
// pubsub.Publisher: that one batches messages again, and its bundler and
// scheduler start a goroutine per bundle, whose stack grows every time
// (3% of `up`'s CPU under single-record load, for batching our batcher has
// already done).
type Publisher struct {
	*route.Batched
	c     *pubsub.Client
	topic string // projects/P/topics/T
}

// NewPublisher returns the Pub/Sub route's ingest side on client c.
func NewPublisher(c *pubsub.Client, opts PublisherOptions) *Publisher {
	if opts.Topic == "" {
		opts.Topic = DefaultTopic
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 500
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = route.DefaultInFlight
	}
	p := &Publisher{c: c, topic: resource(c, "topics", opts.Topic)}
	p.Batched = route.NewBatched(route.PubSub, p.publish, batch.Options{MaxItems: opts.MaxBatch, MaxInFlight: opts.MaxInFlight, FlushTimeout: 15 * time.Second}, nil)
	return p
}

func (p *Publisher) publish(ctx context.Context, recs []record.Record) error {
	data, err := proto.Marshal(record.BatchToProto(recs))
	if err != nil {
		return fmt.Errorf("encode batch: %w", err)
	}
	_, err = p.c.TopicAdminClient.Publish(ctx, &pubsubpb.PublishRequest{
		Topic:    p.topic,
		Messages: []*pubsubpb.PubsubMessage{{Data: data, Attributes: map[string]string{"records": strconv.Itoa(len(recs))}}},
	})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// WorkerOptions tune a worker.
type WorkerOptions struct {
	Subscription   string // default DefaultSubscription
	Streams        int    // streaming-pull streams (default 8; one is slow)
	MaxOutstanding int    // messages in hand at once (default 256)
	// DeadLetterTopic receives poison messages (default DefaultDeadLetterTopic).
	DeadLetterTopic string
}

// Worker receives messages and stores them through the sink.
type Worker struct {
	c       *pubsub.Client
	deps    route.ConsumerDeps
	log     *slog.Logger
	opts    WorkerOptions
	consume route.Consumer[*pubsub.Message]

	deadLetters *pubsub.Publisher // set by Run
}

// NewWorker returns a worker; Run starts it.
func NewWorker(c *pubsub.Client, deps route.ConsumerDeps, opts WorkerOptions) *Worker {
	if opts.Subscription == "" {
		opts.Subscription = DefaultSubscription
	}
	if opts.Streams <= 0 {
		opts.Streams = 8
	}
	if opts.MaxOutstanding <= 0 {
		opts.MaxOutstanding = 256
	}
	if opts.DeadLetterTopic == "" {
		opts.DeadLetterTopic = DefaultDeadLetterTopic
	}
	deps.Log = deps.Log.With("route", route.PubSub)
	w := &Worker{c: c, deps: deps, log: deps.Log, opts: opts}
	w.consume = route.Consumer[*pubsub.Message]{Deps: deps, Span: "pubsub.consume",
		Decode: func(m *pubsub.Message) ([]record.Record, error) { return route.DecodeBatch(m.Data, deps.Catalog) },
		Detach: 30 * time.Second, Ack: ackAll, Retry: nackAll, DeadLetter: w.deadLetter}
	return w
}

func ackAll(_ context.Context, msgs []*pubsub.Message) {
	for _, m := range msgs {
		m.Ack()
	}
}

// nackAll hands messages back for redelivery.
func nackAll(_ context.Context, msgs []*pubsub.Message, _ error) {
	for _, m := range msgs {
		m.Nack()
	}
}

// Run receives until ctx ends, retrying with back-off when the service is
// unreachable. Messages in hand when ctx ends are finished and acked.
func (w *Worker) Run(ctx context.Context) error {
	dl := w.c.Publisher(w.opts.DeadLetterTopic)
	dl.PublishSettings.DelayThreshold = time.Millisecond
	defer dl.Stop()
	w.deadLetters = dl
	pause := backoff.New(100*time.Millisecond, 5*time.Second)
	for ctx.Err() == nil {
		sub := w.c.Subscriber(w.opts.Subscription)
		sub.ReceiveSettings.NumGoroutines = w.opts.Streams
		sub.ReceiveSettings.MaxOutstandingMessages = w.opts.MaxOutstanding
		sub.ReceiveSettings.MaxExtension = 10 * time.Minute
		// Keep the stream's ack deadline short (the client would otherwise
		// raise it toward a minute or more): when a worker is killed, what
		// it held is redelivered within seconds, not minutes.
		sub.ReceiveSettings.MaxDurationPerAckExtension = 10 * time.Second
		err := sub.Receive(ctx, w.handle)
		if ctx.Err() != nil {
			return nil
		}
		d := pause.Next()
		w.log.Warn("receive stopped; retrying", "err", err, "retry_in", d)
		if !backoff.Sleep(ctx, d) {
			return nil
		}
	}
	return nil
}

func (w *Worker) handle(ctx context.Context, msg *pubsub.Message) {
	if msg.DeliveryAttempt != nil && *msg.DeliveryAttempt > 1 {
		w.deps.Metrics.Redelivered.WithLabelValues(route.PubSub).Inc()
	}
	_, _ = w.consume.Handle(ctx, []*pubsub.Message{msg}, attribute.String("message_id", msg.ID))
}

// deadLetter moves a message no worker can ever store to the dead-letter
// topic (kept there for an operator: gcloud pubsub subscriptions pull
// vacunometro-records-dead-letter), with why and where it came from, and acks
// it only once the dead-letter topic has it. When that publish fails the
// message is nacked: it comes back, and after the subscription's
// max_delivery_attempts Pub/Sub's own dead-letter policy moves it.
func (w *Worker) deadLetter(ctx context.Context, msg *pubsub.Message, cause *route.PoisonError) error {
	reason := cause.Reason
	attrs := map[string]string{
		"dead_letter_reason":  reason,
		"dead_letter_error":   cause.Error(),
		"source_message_id":   msg.ID,
		"source_subscription": w.opts.Subscription,
	}
	for k, v := range msg.Attributes {
		if _, taken := attrs[k]; !taken {
			attrs[k] = v
		}
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if _, err := w.deadLetters.Publish(pctx, &pubsub.Message{Data: msg.Data, Attributes: attrs}).Get(pctx); err != nil {
		w.log.Error("poison message not moved to the dead-letter topic; nacked", "id", msg.ID, "reason", reason, "err", err)
		return err
	}
	w.log.Error("poison message moved to the dead-letter topic", "id", msg.ID, "reason", reason, "topic", w.opts.DeadLetterTopic, "err", cause)
	return nil
}
