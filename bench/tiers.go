package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// The tiers as the cloud runs them, each its own process: `vacunometro
// ingest` (Cloud Run) with one route at a time, and the gRPC server, the
// Redis and Pub/Sub workers and the realtime tier (GKE, Cloud Run). The
// CPU of each is what its own instances are billed for.

// startTier runs `bin args...` with env, logging to DIR/logName.log, and
// waits for its /readyz on the HTTP address it was given (addrFlag).
func startTier(ctx context.Context, bin string, s *services, env []string, name, logName, addrFlag string, args ...string) (*upProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	argv := append([]string{bin}, args...)
	argv = append(argv, addrFlag, addr)
	p, err := startProc(name, filepath.Join(s.dir, logName+".log"), env, argv...)
	if err != nil {
		return nil, err
	}
	t := &upProc{proc: p, url: "http://" + addr}
	if err := waitHTTP(ctx, t.url+"/readyz", 60*time.Second, p); err != nil {
		_ = p.stop(10 * time.Second)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// tiers measures `vacunometro ingest` with each route, with the gRPC
// server, both workers and the realtime tier running apart.
func (b *bench) tiers(ctx context.Context, single func(string, time.Duration) loadSpec) error {
	c, s := b.c, b.svc
	env := s.env(b.database)
	grpcAddr, err := freeAddr()
	if err != nil {
		return err
	}
	var back []*upProc
	defer func() {
		for i := len(back) - 1; i >= 0; i-- {
			if err := back[i].stop(30 * time.Second); err != nil {
				b.fail("tiers: %v", err)
			}
		}
	}()
	start := func(name, addrFlag string, args ...string) (*upProc, error) {
		t, err := startTier(ctx, c.bin, s, env, name, name, addrFlag, args...)
		if err == nil {
			back = append(back, t)
		}
		return t, err
	}
	if _, err := start("grpc-server", "--health-addr", "grpc-server", "--addr", grpcAddr); err != nil {
		return err
	}
	if _, err := start("worker-redis", "--health-addr", "worker", "redis"); err != nil {
		return err
	}
	routes := []string{"grpc", "redis"}
	if s.pubsubHost != "" {
		if _, err := start("worker-pubsub", "--health-addr", "worker", "pubsub"); err != nil {
			return err
		}
		routes = append(routes, "pubsub")
	} else {
		logf("tiers: no Pub/Sub emulator (pstest lives inside one process): the pubsub route is measured in up only")
	}
	rt, err := start("realtime", "--addr", "realtime")
	if err != nil {
		return err
	}
	ingestEnv := append(append([]string{}, env...), "GRPC_SERVER_ADDRESS="+grpcAddr)
	for _, name := range routes {
		in, err := startTier(ctx, c.bin, s, ingestEnv, "ingest", "ingest-"+name, "--addr", "ingest", "--split", soleRoute(name))
		if err != nil {
			return err
		}
		var procs []*proc
		for _, t := range back {
			procs = append(procs, t.proc)
		}
		logf("tiers, ingest %s: %d connections, single-record POSTs for %s", name, c.conns, c.ingest)
		m := b.meter(append([]*proc{in.proc}, procs...)...)
		urls := []string{in.url}
		for _, t := range back {
			urls = append(urls, t.url)
		}
		bs := startBatches(urls...)
		wait := b.prof.start(ctx, in.proc, in.url, "ingest-"+name, c.ingest)
		var waits []func()
		for _, t := range back {
			waits = append(waits, b.prof.start(ctx, t.proc, t.url, t.name+"-"+name, c.ingest))
		}
		r := runLoad(ctx, single(in.url+"/api/records", c.ingest))
		wait()
		for _, w := range waits {
			w()
		}
		b.expected += r.Records
		if _, err := b.settled(ctx, rt.url, b.expected); err != nil {
			b.fail("tiers, ingest %s: %v", name, err)
		}
		use := m.stop()
		bat := bs.stop()
		if err := in.stop(30 * time.Second); err != nil {
			b.fail("tiers, ingest %s: %v", name, err)
		}
		logf("tiers, ingest %s: %.0f requests/s", name, r.rps())
		b.add(row{name: "tiers: ingest " + name, load: fmt.Sprintf("1 rec/req, %d conns", c.conns), cpu: use, batches: bat}, r, b.refRPS)
	}
	return nil
}
