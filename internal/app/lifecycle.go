package app

import "sync"

// phase is a step of a process's shutdown. The phases run in the order of
// their declaration, and this list is the one place that order is written:
// the HTTP server has already stopped accepting (httpx.Serve returns after
// its graceful shutdown) when the first one runs.
type phase int

const (
	stopAccepting  phase = iota // the realtime hub: WebSocket clients are told to go
	flushProducers              // the routes: what was accepted reaches its queue or server
	drainConsumers              // one process only: wait until the queues are empty
	stopConsumers               // the gRPC server and the workers finish what they hold
	closeSink                   // the sink's last group commit
	stopViewRepair              // a background catch-up of the Redis view
	closeClients                // Redis, MongoDB and Pub/Sub clients
	stopServices                // the embedded FerretDB, Redis and pstest
	flushTraces                 // the last spans
	numPhases
)

// lifecycle collects what closes a process, by phase.
type lifecycle struct {
	mu     sync.Mutex
	phases [numPhases][]func()
}

// onClose registers f to run in phase ph; within a phase, the last
// registered runs first.
func (l *lifecycle) onClose(ph phase, f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phases[ph] = append(l.phases[ph], f)
}

// close runs every registered function, phase by phase; it may be called
// more than once (the second call does nothing).
func (l *lifecycle) close() {
	l.mu.Lock()
	phases := l.phases
	l.phases = [numPhases][]func(){}
	l.mu.Unlock()
	for _, fs := range phases {
		for i := len(fs) - 1; i >= 0; i-- {
			fs[i]()
		}
	}
}
