// Package chaos holds vacunometro's fault and abuse tests. They run the real
// binary as separate processes (ingest, grpc-server, worker redis, worker
// pubsub, realtime) against a redis-server of their own (AOF, fsync always),
// FerretDB and the Pub/Sub emulator, drive a steady load and, during it, kill
// processes and services for real (SIGKILL), stop the emulator and deliver
// records twice on purpose. After each run they check that every record that
// got a 202 is in MongoDB exactly once, that /api/stats equals an aggregation
// computed independently from MongoDB, and that every request that did not
// get a 202 was told so; each scenario prints
//
//	RESULT accepted=N stored=N lost=0 duplicated=0 ...
//
// `go test ./chaos/` runs a short form (a few seconds of load per scenario);
// CHAOS_DURATION=60s (`make chaos`) runs each scenario that long. The package
// has no code outside its tests.
package chaos
