package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vacunometro/vacunometro/internal/route/grpcroute"
)

// consumerOptions configure the consumers tier.
type consumerOptions struct {
	grpcListen string   // the gRPC server's address; "" for none
	workers    []string // route.Redis, route.PubSub
	consumer   string   // redis: the consumer's name in the group ("": host-pid)
	claimIdle  time.Duration
	streams    int           // pubsub: streaming-pull streams
	grace      time.Duration // most time the gRPC server gets to finish its calls
}

// consumerTier is what stores records: the gRPC route's server and the
// queue workers, all through the one sink.
type consumerTier struct {
	grpcAddr net.Addr     // where the gRPC server listens (nil without one)
	errc     <-chan error // a server or worker that ended on its own
}

// buildConsumers repairs the Redis view (view.go), opens the sink and
// starts the gRPC server and the workers asked for. They stop in the
// stopConsumers phase, before the sink closes. Store and Redis must be
// open, and Pub/Sub for its worker.
func buildConsumers(ctx context.Context, c *clients, o consumerOptions) (*consumerTier, error) {
	if err := c.startViewRepair(ctx); err != nil {
		return nil, err
	}
	if err := c.openSink(); err != nil {
		return nil, err
	}
	c.registerRedisLag()
	if err := c.startProducerSync(ctx); err != nil {
		return nil, err
	}
	var runs []func(context.Context) error
	for _, k := range routeKinds() {
		if k.worker == nil || !slices.Contains(o.workers, k.name) {
			continue
		}
		run, err := k.worker(c, o)
		if err != nil {
			return nil, err
		}
		runs = append(runs, run)
	}
	if len(runs) < len(o.workers) {
		return nil, usageError("unknown worker in %v: worker %s", o.workers, strings.Join(queueWorkers(), " | worker "))
	}
	t := &consumerTier{}
	errc := make(chan error, len(runs)+1)
	t.errc = errc
	var lis net.Listener
	if o.grpcListen != "" {
		var err error
		if lis, err = net.Listen("tcp", o.grpcListen); err != nil {
			return nil, fmt.Errorf("grpc listen %s: %w", o.grpcListen, err)
		}
		t.grpcAddr = lis.Addr()
	}
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	for _, run := range runs {
		workers.Add(1)
		go func() {
			defer workers.Done()
			if err := run(workCtx); err != nil && workCtx.Err() == nil {
				errc <- err
			}
		}()
	}
	stopGRPC := func() {}
	if lis != nil {
		gs := grpcroute.NewGRPCServer(grpcroute.NewServer(c.consumerDeps()))
		go func() {
			if err := gs.Serve(lis); err != nil {
				errc <- fmt.Errorf("grpc server: %w", err)
			}
		}()
		stopGRPC = func() {
			done := make(chan struct{})
			go func() { gs.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-time.After(o.grace):
				gs.Stop()
			}
		}
	}
	c.onClose(stopConsumers, func() {
		stopWork()
		workers.Wait()
		stopGRPC()
	})
	return t, nil
}

// wait blocks until ctx ends (nil) or a server or worker ends on its own
// (its error).
func (t *consumerTier) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-t.errc:
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
}
