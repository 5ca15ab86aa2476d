package app

import (
	"slices"
	"testing"

	"github.com/vacunometro/vacunometro/internal/envvars"
	"github.com/vacunometro/vacunometro/internal/route"
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
