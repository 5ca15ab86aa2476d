package app

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vacunometro/vacunometro/internal/envvars"
	"github.com/vacunometro/vacunometro/internal/producer"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/sink"
)

// The test harness clears envvars.Settings to give a child process its
// defaults: the list must be exactly what Settings reads.
func TestSettingsReadExactlyTheListedVariables(t *testing.T) {
	var read []string
	loadSettings(func(k string) string { read = append(read, k); return "" })
	slices.Sort(read)
	want := slices.Clone(envvars.Settings)
	slices.Sort(want)
	if !slices.Equal(read, want) {
		t.Fatalf("Settings read %v; envvars.Settings lists %v", read, want)
	}
}

// The route list of the commands is route.All, in its order; the queue
// workers are the routes other than grpc (whose consumer is a server).
func TestRouteKindsAreRouteAll(t *testing.T) {
	var names []string
	for _, k := range routeKinds() {
		names = append(names, k.name)
	}
	if !slices.Equal(names, route.All) {
		t.Fatalf("routeKinds %v, route.All %v", names, route.All)
	}
	if got, want := queueWorkers(), []string{route.Redis, route.PubSub}; !slices.Equal(got, want) {
		t.Fatalf("queue workers %v, want %v", got, want)
	}
}

func TestIDTokenSettings(t *testing.T) {
	keys := producer.NewKeys(nil, nil)
	cases := []struct {
		name, accounts, audience string
		wantIDTokens             bool
		wantErr                  string
	}{
		{"none: producer keys only", "", "", false, ""},
		{"accounts and audience", "registro@p.iam.gserviceaccount.com=registro", "https://ingest.example.run.app", true, ""},
		{"accounts without an audience", "registro@p.iam.gserviceaccount.com=registro", "", false, "ID_TOKEN_AUDIENCE"},
		{"a malformed pair", "registro=", "https://ingest.example.run.app", false, "ID_TOKEN_ACCOUNTS"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			auth, err := idTokens(context.Background(), Settings{IDTokenAccounts: c.accounts, IDTokenAudience: c.audience}, keys)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := auth.(*producer.IDTokens); ok != c.wantIDTokens {
				t.Fatalf("authenticator %T, want ID tokens %v", auth, c.wantIDTokens)
			}
		})
	}
}

func TestSinkInterval(t *testing.T) {
	cases := []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", sink.DefaultInterval, false},
		{"0", 0, false},
		{"40ms", 40 * time.Millisecond, false},
		{"-5ms", 0, true},
		{"2s", 0, true},
		{"soon", 0, true},
	}
	for _, c := range cases {
		t.Run(c.value, func(t *testing.T) {
			set := loadSettings(func(k string) string {
				if k == "SINK_INTERVAL" {
					return c.value
				}
				return ""
			})
			if (set.SinkErr != nil) != c.wantErr {
				t.Fatalf("SINK_INTERVAL=%q: error %v, want one: %v", c.value, set.SinkErr, c.wantErr)
			}
			if !c.wantErr && set.SinkInterval != c.want {
				t.Fatalf("SINK_INTERVAL=%q: %v, want %v", c.value, set.SinkInterval, c.want)
			}
		})
	}
}

func TestRouteInFlight(t *testing.T) {
	cases := []struct {
		value   string
		want    int
		wantErr bool
	}{
		{"", 0, false}, // each route's own default
		{"1", 1, false},
		{"8", 8, false},
		{"0", 0, true},
		{"65", 0, true},
		{"many", 0, true},
	}
	for _, c := range cases {
		t.Run(c.value, func(t *testing.T) {
			set := loadSettings(func(k string) string {
				if k == "ROUTE_IN_FLIGHT" {
					return c.value
				}
				return ""
			})
			if (set.RouteInFlightErr != nil) != c.wantErr {
				t.Fatalf("ROUTE_IN_FLIGHT=%q: error %v, want one: %v", c.value, set.RouteInFlightErr, c.wantErr)
			}
			if !c.wantErr && set.RouteInFlight != c.want {
				t.Fatalf("ROUTE_IN_FLIGHT=%q: %d, want %d", c.value, set.RouteInFlight, c.want)
			}
		})
	}
}
