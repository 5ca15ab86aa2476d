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

// The tuning variables: each value parsed, each bad one an error that the
// command using it reports (usageError), the default when unset.
func TestTuningVariables(t *testing.T) {
	read := map[string]func(Settings) (any, error){
		"SINK_INTERVAL":   func(s Settings) (any, error) { return s.SinkInterval, s.SinkErr },
		"ROUTE_IN_FLIGHT": func(s Settings) (any, error) { return s.RouteInFlight, s.RouteInFlightErr },
	}
	cases := []struct {
		key, value string
		want       any
		wantErr    bool
	}{
		{"SINK_INTERVAL", "", sink.DefaultInterval, false},
		{"SINK_INTERVAL", "0", time.Duration(0), false},
		{"SINK_INTERVAL", "40ms", 40 * time.Millisecond, false},
		{"SINK_INTERVAL", "-5ms", nil, true},
		{"SINK_INTERVAL", "2s", nil, true},
		{"SINK_INTERVAL", "soon", nil, true},
		{"ROUTE_IN_FLIGHT", "", 0, false}, // each route's own default
		{"ROUTE_IN_FLIGHT", "1", 1, false},
		{"ROUTE_IN_FLIGHT", "8", 8, false},
		{"ROUTE_IN_FLIGHT", "0", nil, true},
		{"ROUTE_IN_FLIGHT", "65", nil, true},
		{"ROUTE_IN_FLIGHT", "many", nil, true},
	}
	for _, c := range cases {
		t.Run(c.key+"="+c.value, func(t *testing.T) {
			got, err := read[c.key](loadSettings(func(k string) string {
				if k == c.key {
					return c.value
				}
				return ""
			}))
			if (err != nil) != c.wantErr {
				t.Fatalf("%s=%q: error %v, want one: %v", c.key, c.value, err, c.wantErr)
			}
			if !c.wantErr && got != c.want {
				t.Fatalf("%s=%q: %v, want %v", c.key, c.value, got, c.want)
			}
		})
	}
}
