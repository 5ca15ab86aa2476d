// Package fault makes a route unhealthy on purpose, for demos and tests of
// progressive delivery: a wrapped route fails a given share of its
// deliveries and/or answers later. Failures are spread evenly by a counter
// (with error=0.3, exactly 3 of every 10 deliveries fail), so tests that
// rely on them are not flaky.
//
// The specification, as the FAULTS environment variable or the --faults flag
// carries it, lists routes separated by ";", each with its faults:
//
//	pubsub:error=0.3,latency=200ms;grpc:latency=50ms
package fault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
)

// ErrInjected is the error of a delivery failed on purpose.
var ErrInjected = errors.New("fault injected")

// Config is one route's faults.
type Config struct {
	// ErrorRate is the share of deliveries that fail, 0 to 1. The n-th
	// delivery fails when floor(n*ErrorRate) > floor((n-1)*ErrorRate).
	ErrorRate float64
	// Latency is added before every delivery (failed or not).
	Latency time.Duration
}

// String renders c as in a specification: "error=0.3,latency=200ms".
func (c Config) String() string {
	var parts []string
	if c.ErrorRate > 0 {
		parts = append(parts, "error="+strconv.FormatFloat(c.ErrorRate, 'g', -1, 64))
	}
	if c.Latency > 0 {
		parts = append(parts, "latency="+c.Latency.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// Wrap returns r with the faults of cfg. A Config without faults returns r.
func Wrap(r route.Route, cfg Config) route.Route {
	if cfg.ErrorRate <= 0 && cfg.Latency <= 0 {
		return r
	}
	return &faulty{Route: r, cfg: cfg}
}

type faulty struct {
	route.Route
	cfg Config

	mu sync.Mutex
	n  uint64 // deliveries so far
}

// fail counts a delivery and says whether it is one to fail.
func (f *faulty) fail() bool {
	if f.cfg.ErrorRate <= 0 {
		return false
	}
	if f.cfg.ErrorRate >= 1 {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	prev := uint64(float64(f.n-1) * f.cfg.ErrorRate)
	cur := uint64(float64(f.n) * f.cfg.ErrorRate)
	return cur > prev
}

func (f *faulty) Deliver(ctx context.Context, recs []record.Record) error {
	if f.cfg.Latency > 0 {
		t := time.NewTimer(f.cfg.Latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("route %s: %w", f.Name(), ctx.Err())
		case <-t.C:
		}
	}
	if f.fail() {
		return fmt.Errorf("route %s: %w (FAULTS error=%g)", f.Name(), ErrInjected, f.cfg.ErrorRate)
	}
	return f.Route.Deliver(ctx, recs)
}

// Parse reads a specification: routes separated by ";", each
// "name:key=value,key=value" with the keys error (0 to 1) and latency (a Go
// duration). Route names must be in route.All; an empty string means no
// faults.
func Parse(s string) (map[string]Config, error) {
	out := map[string]Config{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, spec, ok := strings.Cut(part, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("faults %q: want route:error=0.3,latency=200ms", part)
		}
		if !slices.Contains(route.All, name) {
			return nil, fmt.Errorf("faults: unknown route %q (known: %s)", name, strings.Join(route.All, ", "))
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("faults: route %q given twice", name)
		}
		var c Config
		for _, kv := range strings.Split(spec, ",") {
			kv = strings.TrimSpace(kv)
			if kv == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok {
				return nil, fmt.Errorf("faults %s: %q: want key=value", name, kv)
			}
			switch k {
			case "error":
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f < 0 || f > 1 {
					return nil, fmt.Errorf("faults %s: error=%s: want a share between 0 and 1, e.g. 0.3", name, v)
				}
				c.ErrorRate = f
			case "latency":
				d, err := time.ParseDuration(v)
				if err != nil || d < 0 {
					return nil, fmt.Errorf("faults %s: latency=%s: want a duration, e.g. 200ms", name, v)
				}
				c.Latency = d
			default:
				return nil, fmt.Errorf("faults %s: unknown key %q (error, latency)", name, k)
			}
		}
		out[name] = c
	}
	return out, nil
}

// Apply parses spec and wraps the routes it names, in place. A route named
// in spec but absent from routes is an error (its faults would be silently
// lost). Each wrapped route is logged as a warning: faults are for demos and
// tests only.
func Apply(routes map[string]route.Route, spec string, log *slog.Logger) error {
	faults, err := Parse(spec)
	if err != nil {
		return err
	}
	for name, cfg := range faults {
		r, ok := routes[name]
		if !ok || r == nil {
			return fmt.Errorf("faults: route %q is not configured in this process", name)
		}
		routes[name] = Wrap(r, cfg)
		if log != nil {
			log.Warn("FAULT INJECTION: route made unhealthy on purpose", "route", name, "faults", cfg.String())
		}
	}
	return nil
}
