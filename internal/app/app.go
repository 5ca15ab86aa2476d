package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `vacunometro: real-time tracker of COVID-19 vaccination in Guatemala.

Usage:
  vacunometro up [--addr 127.0.0.1:8080] [--data DIR] [--split grpc=34,redis=33,pubsub=33] [--web webapp/dist]
                            the whole system in one process (embedded MongoDB/Redis/Pub/Sub
                            unless MONGODB_URI / REDIS_URL / PUBSUB_EMULATOR_HOST or PUBSUB_PROJECT are set)
  vacunometro ingest        the HTTP ingest: validates, splits over the routes, answers 202
  vacunometro grpc-server   the gRPC route's server: stores batches through the sink
  vacunometro worker redis  the Redis route's worker (consumer group on the stream)
  vacunometro worker pubsub the Pub/Sub route's worker (subscription)
  vacunometro realtime      the WebSocket tier, /api/stats and the dashboard
  vacunometro rebuild       recompute the Redis view from MongoDB
  vacunometro producers add NAME [--rate R --burst B] | list | revoke NAME | quota NAME --rate R --burst B
                      | purge NAME --since RFC3339 [--dry-run]
                            who may post records: keys (shown once, stored as hashes), quotas, removal
  vacunometro rollout --to ROUTE [--steps 5,25,50,100] [--interval 30s] [--max-failures 2] [--min-success 99]
                      [--max-p99 500ms] [--max-lag 2s] [--backend local|cloudrun|gke] [--dry-run|--apply]
                            move the split to ROUTE step by step, judged by its own metrics; promote or roll back
  vacunometro version

Each command takes --help. Configuration comes from flags and the environment:
MONGODB_URI, MONGODB_DATABASE, REDIS_URL, PUBSUB_PROJECT, PUBSUB_EMULATOR_HOST, GRPC_SERVER_ADDRESS,
SPLIT, ADMIN_TOKEN, LOCAL_PRODUCER_KEY, QUOTA_RATE, QUOTA_BURST, SINK_INTERVAL, ROUTE_IN_FLIGHT, PORT, ALLOWED_ORIGINS, WEB_DIR, LOG_LEVEL, LOG_FORMAT, FAULTS,
OTEL_EXPORTER_OTLP_ENDPOINT (see README.md).
`

// Version is set at build time with -ldflags "-X .../internal/app.Version=...".
var Version = "dev"

// Main runs the command in args (without the program name) until ctx ends
// and returns the process exit code.
func Main(ctx context.Context, args []string, env Env, stdout, stderr *os.File) int {
	err := run(ctx, args, env, stdout, stderr)
	var ue *UsageError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "vacunometro: %s\n\n%s", ue.Msg, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "vacunometro: %v\n", err)
		return 1
	}
}

func run(ctx context.Context, args []string, env Env, stdout, stderr *os.File) error {
	if len(args) == 0 {
		return usageError("no command given")
	}
	set := loadSettings(env)
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version", "--version":
		fmt.Fprintln(stdout, "vacunometro", Version)
		return nil
	case "up":
		return runUp(ctx, set, rest, stdout, stderr)
	case "ingest":
		return runIngest(ctx, set, rest, stderr)
	case "grpc-server":
		return runGRPCServer(ctx, set, rest, stderr)
	case "worker":
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return usageError("worker needs a route: worker redis | worker pubsub")
		}
		return runWorker(ctx, set, rest[0], rest[1:], stderr)
	case "realtime":
		return runRealtime(ctx, set, rest, stderr)
	case "rebuild":
		return runRebuild(ctx, set, rest, stdout, stderr)
	case "producers":
		return runProducers(ctx, set, rest, stdout, stderr)
	case "rollout":
		return runRollout(ctx, set, rest, stdout, stderr)
	default:
		return usageError("unknown command %q", cmd)
	}
}

func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("vacunometro "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}
