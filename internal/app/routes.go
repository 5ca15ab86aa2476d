package app

import (
	"context"
	"fmt"

	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/route/grpcroute"
	"github.com/vacunometro/vacunometro/internal/route/pubsubroute"
	"github.com/vacunometro/vacunometro/internal/route/redisroute"
)

// routeKind is one route of the split with its two ends: how an ingest
// makes its producer and how a consumer process makes its queue worker.
type routeKind struct {
	name string
	// producer returns the route's producer, or nil when its client is not
	// open in this process (the route is then not offered to the split).
	producer func(c *clients, o ingestOptions) (route.Route, error)
	// worker returns the route's queue worker; nil for a route whose
	// consumer is a server (grpc: see buildConsumers).
	worker func(c *clients, o consumerOptions) (func(context.Context) error, error)
}

// routeKinds is the one list of routes, in route.All's order.
func routeKinds() []routeKind {
	return []routeKind{
		{
			name: route.GRPC,
			producer: func(c *clients, o ingestOptions) (route.Route, error) {
				return grpcroute.Dial(o.grpcAddr, grpcroute.Options{MaxInFlight: c.set.RouteInFlight})
			},
		},
		{
			name: route.Redis,
			producer: func(c *clients, o ingestOptions) (route.Route, error) {
				if c.rdb == nil {
					return nil, nil
				}
				c.registerRedisLag()
				return redisroute.NewProducer(c.rdb, redisroute.ProducerOptions{MaxInFlight: c.set.RouteInFlight}), nil
			},
			worker: func(c *clients, o consumerOptions) (func(context.Context) error, error) {
				w := redisroute.NewWorker(c.rdb, c.consumerDeps(), redisroute.WorkerOptions{Consumer: o.consumer, ClaimIdle: o.claimIdle})
				return w.Run, nil
			},
		},
		{
			name: route.PubSub,
			producer: func(c *clients, o ingestOptions) (route.Route, error) {
				if c.ps == nil {
					return nil, nil
				}
				return pubsubroute.NewPublisher(c.ps, pubsubroute.PublisherOptions{Topic: c.set.PubSubTopic, MaxInFlight: c.set.RouteInFlight}), nil
			},
			worker: func(c *clients, o consumerOptions) (func(context.Context) error, error) {
				if c.ps == nil {
					return nil, fmt.Errorf("the pubsub worker needs PUBSUB_PROJECT")
				}
				w := pubsubroute.NewWorker(c.ps, c.consumerDeps(), pubsubroute.WorkerOptions{Subscription: c.set.PubSubSub, Streams: o.streams})
				return w.Run, nil
			},
		},
	}
}

// consumerDeps are what every route's consumer side is built with.
func (c *clients) consumerDeps() route.ConsumerDeps {
	return route.ConsumerDeps{Sink: c.sink, Catalog: c.cat, Metrics: c.m, Log: c.log, Tracer: c.tr}
}

// queueWorkers are the routes that have a queue worker (`vacunometro worker NAME`).
func queueWorkers() []string {
	var names []string
	for _, k := range routeKinds() {
		if k.worker != nil {
			names = append(names, k.name)
		}
	}
	return names
}
