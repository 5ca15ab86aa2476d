package fault

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
)

// counting is an in-memory route that takes everything and counts it.
type counting struct {
	name string
	mu   sync.Mutex
	got  int
}

func (c *counting) Name() string { return c.name }
func (c *counting) Deliver(ctx context.Context, recs []record.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got += len(recs)
	return nil
}
func (c *counting) Close() error { return nil }

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]Config
		err  string
	}{
		{"", map[string]Config{}, ""},
		{"  ", map[string]Config{}, ""},
		{"pubsub:error=0.3,latency=200ms;grpc:latency=50ms", map[string]Config{
			"pubsub": {ErrorRate: 0.3, Latency: 200 * time.Millisecond},
			"grpc":   {Latency: 50 * time.Millisecond},
		}, ""},
		{" redis : error = 1 ; ", map[string]Config{"redis": {ErrorRate: 1}}, ""},
		{"redis:", map[string]Config{"redis": {}}, ""},
		{"kafka:error=0.1", nil, `unknown route "kafka"`},
		{"redis:error=1.5", nil, "between 0 and 1"},
		{"redis:error=-0.1", nil, "between 0 and 1"},
		{"redis:error=abc", nil, "between 0 and 1"},
		{"redis:latency=fast", nil, "want a duration"},
		{"redis:jitter=1s", nil, `unknown key "jitter"`},
		{"redis:error", nil, "want key=value"},
		{"error=0.3", nil, "want route:"},
		{"redis:error=0.1;redis:latency=1s", nil, "given twice"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q) error = %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestErrorRateIsExactAndSpread(t *testing.T) {
	for _, rate := range []float64{0, 0.1, 0.25, 0.3, 0.5, 0.99, 1} {
		inner := &counting{name: "redis"}
		r := Wrap(inner, Config{ErrorRate: rate})
		var pattern []bool
		failed := 0
		const n = 1000
		for i := 0; i < n; i++ {
			err := r.Deliver(context.Background(), []record.Record{{ID: "x"}})
			pattern = append(pattern, err != nil)
			if err != nil {
				failed++
				if !errors.Is(err, ErrInjected) {
					t.Fatalf("rate %v: error %v is not ErrInjected", rate, err)
				}
				if !strings.Contains(err.Error(), "redis") {
					t.Errorf("error %q does not name the route", err)
				}
			}
		}
		if want := int(rate * n); failed != want {
			t.Errorf("rate %v: %d of %d deliveries failed, want %d", rate, failed, n, want)
		}
		if inner.got != n-failed {
			t.Errorf("rate %v: the route got %d records, want %d (failed deliveries must not reach it)", rate, inner.got, n-failed)
		}
		// Spread: every window of 10 deliveries has within 1 of rate*10 failures.
		if rate > 0 && rate < 1 {
			for i := 0; i+10 <= n; i++ {
				k := 0
				for _, f := range pattern[i : i+10] {
					if f {
						k++
					}
				}
				if d := float64(k) - rate*10; d > 1 || d < -1 {
					t.Fatalf("rate %v: %d failures in deliveries %d-%d, want about %.1f", rate, k, i, i+9, rate*10)
				}
			}
		}
	}
}

func TestLatencyDelaysAndHonoursCancel(t *testing.T) {
	inner := &counting{name: "grpc"}
	r := Wrap(inner, Config{Latency: 30 * time.Millisecond})
	start := time.Now()
	if err := r.Deliver(context.Background(), []record.Record{{ID: "a"}}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Errorf("delivery took %v, want at least the injected 30ms", el)
	}

	slow := Wrap(inner, Config{Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := slow.Deliver(ctx, []record.Record{{ID: "b"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled delivery: %v, want context.Canceled", err)
	}
	if inner.got != 1 {
		t.Errorf("route got %d records, want 1 (the canceled one must not arrive)", inner.got)
	}
	if slow.Name() != "grpc" {
		t.Errorf("Name() = %q, want the wrapped route's", slow.Name())
	}
}

func TestWrapWithoutFaultsIsTheRoute(t *testing.T) {
	inner := &counting{name: "grpc"}
	if got := Wrap(inner, Config{}); got != route.Route(inner) {
		t.Errorf("Wrap with no faults returned %T, want the route itself", got)
	}
}

func TestApply(t *testing.T) {
	g, p := &counting{name: "grpc"}, &counting{name: "pubsub"}
	routes := map[string]route.Route{"grpc": g, "pubsub": p}
	var logs bytes.Buffer
	if err := Apply(routes, "pubsub:error=1", slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if routes["grpc"] != route.Route(g) {
		t.Error("grpc was wrapped but had no faults")
	}
	if err := routes["pubsub"].Deliver(context.Background(), []record.Record{{ID: "a"}}); !errors.Is(err, ErrInjected) {
		t.Errorf("pubsub with error=1 delivered: %v", err)
	}
	if !strings.Contains(logs.String(), "FAULT INJECTION") || !strings.Contains(logs.String(), "pubsub") {
		t.Errorf("no warning logged: %q", logs.String())
	}
	if err := Apply(routes, "redis:error=1", nil); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("faults on a missing route: %v, want an error", err)
	}
	if err := Apply(routes, "grpc:error=2", nil); err == nil {
		t.Error("bad spec accepted")
	}
}
