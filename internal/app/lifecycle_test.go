package app

import (
	"slices"
	"testing"
)

// Whatever order the builders register in, a process closes in the order
// of the phases: producers flushed before consumers stop, the sink before
// the clients it writes through.
func TestShutdownRunsByPhaseNotByRegistration(t *testing.T) {
	var l lifecycle
	var got []string
	add := func(ph phase, name string) { l.onClose(ph, func() { got = append(got, name) }) }
	add(flushTraces, "traces")
	add(stopServices, "embedded redis")
	add(closeClients, "redis client")
	add(closeClients, "mongodb client")
	add(closeSink, "sink")
	add(stopConsumers, "workers")
	add(flushProducers, "routes")
	add(stopAccepting, "hub")
	add(drainConsumers, "drain")
	l.close()
	want := []string{"hub", "routes", "drain", "workers", "sink", "mongodb client", "redis client", "embedded redis", "traces"}
	if !slices.Equal(got, want) {
		t.Fatalf("closed in order %v, want %v", got, want)
	}
	l.close()
	if len(got) != len(want) {
		t.Fatalf("a second close ran %v again", got[len(want):])
	}
}
