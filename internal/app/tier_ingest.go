package app

import (
	"context"
	"net/http"
	"strings"

	"github.com/vacunometro/vacunometro/internal/api"
	"github.com/vacunometro/vacunometro/internal/httpx"
	"github.com/vacunometro/vacunometro/internal/ingest"
	"github.com/vacunometro/vacunometro/internal/producer"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/route/fault"
	"github.com/vacunometro/vacunometro/internal/split"
)

// ingestOptions configure the ingest tier.
type ingestOptions struct {
	grpcAddr   string // the gRPC server the grpc route dials
	maxRecords int    // most records in one request (0: the decoder's default)
	// publishSplit: the configured split is published as the next version
	// (`up`, one process); without it, a split already shared by instances
	// configured alike wins (an instance started by autoscaling does not
	// undo a change made at run time).
	publishSplit bool
}

// ingestTier is the front door: the producers of the split's routes and
// the handlers that take records and change the split.
type ingestTier struct {
	routes   map[string]route.Route
	splitter *split.Splitter
	weights  split.Weights // as configured at start
	server   *ingest.Server
	split    *api.Split
}

// buildIngest makes a producer for each route (routes.go) whose client is
// open (grpc always, redis with Redis, pubsub with Pub/Sub), applies FAULTS, parses
// SPLIT over those routes and announces it on the view when Redis is
// there. The routes are flushed and closed in the flushProducers phase.
func buildIngest(ctx context.Context, c *clients, o ingestOptions) (*ingestTier, error) {
	if c.set.RouteInFlightErr != nil {
		return nil, usageError("%v", c.set.RouteInFlightErr)
	}
	routes := map[string]route.Route{}
	c.onClose(flushProducers, func() {
		for _, r := range routes {
			_ = r.Close()
		}
	})
	for _, k := range routeKinds() {
		r, err := k.producer(c, o)
		if err != nil {
			return nil, err
		}
		if r != nil {
			routes[k.name] = r
			if ob, ok := r.(interface{ ObserveBatches(func(int)) }); ok {
				h := c.m.RouteBatch.WithLabelValues(k.name)
				ob.ObserveBatches(func(n int) { h.Observe(float64(n)) })
			}
		}
	}
	if c.set.Faults != "" {
		if err := fault.Apply(routes, c.set.Faults, c.log); err != nil {
			return nil, usageError("%v", err)
		}
	}
	var names []string
	for _, n := range route.All {
		if routes[n] != nil {
			names = append(names, n)
		}
	}
	weights, err := split.Parse(c.set.Split, names)
	if err != nil {
		return nil, usageError("%v (configured routes: %s; redis needs REDIS_URL, pubsub needs PUBSUB_PROJECT)", err, strings.Join(names, ", "))
	}
	if c.set.QuotaErr != nil {
		return nil, usageError("%v", c.set.QuotaErr)
	}
	keys, err := c.producerKeys(ctx)
	if err != nil {
		return nil, err
	}
	auth, err := idTokens(ctx, c.set, keys)
	if err != nil {
		return nil, err
	}
	t := &ingestTier{routes: routes, splitter: split.New(weights), weights: weights}
	t.server = ingest.New(ingest.Config{
		Auth: auth, Quota: producer.NewQuota(c.rdb, c.set.QuotaRate, c.set.QuotaBurst),
		Decoder:  &record.Decoder{Catalog: c.cat, IDs: &record.IDGenerator{}, MaxRecords: o.maxRecords},
		Routes:   routes,
		Splitter: t.splitter, IDClaims: idClaims(c), Failover: true,
		Metrics: c.m, Log: c.log, Tracer: c.tr,
	})
	t.split = &api.Split{Splitter: t.splitter, Routes: t.server.RouteNames(), AdminToken: c.set.AdminToken, Metrics: c.m, Log: c.log}
	if c.rdb != nil {
		followCtx, stopFollow := context.WithCancel(context.WithoutCancel(ctx))
		c.onClose(flushProducers, stopFollow)
		t.split.Shared = startSharedSplit(ctx, followCtx, c, t.splitter, weights, names, !o.publishSplit, c.log)
	}
	return t, nil
}

// register adds POST /api/records (and /), GET and PUT /api/split.
func (t *ingestTier) register(mux *http.ServeMux) {
	t.server.Register(mux)
	t.split.Register(mux)
}

// registerStats adds GET /api/stats: the view's snapshot with Redis, a 404
// naming the reason without.
func (c *clients) registerStats(mux *http.ServeMux) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, http.StatusNotFound, "statistics are not served here")
	})
	if c.rdb != nil {
		h = api.Stats(c.statsView(), c.log)
	}
	mux.Handle("GET /api/stats", httpx.Instrument(c.m, "stats", h))
}
