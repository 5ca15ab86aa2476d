package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vacunometro/vacunometro/internal/rollout"
	"github.com/vacunometro/vacunometro/internal/route"
)

const rolloutUsage = `vacunometro rollout --to ROUTE [--steps 5,25,50,100] [--interval 30s] [--max-failures 2]
    [--min-success 99] [--max-p99 500ms] [--max-lag 2s] [--min-records 20] [--target URL]
    [--metrics URL]... [--prometheus URL [--prometheus-selector SEL]] [--backend local|cloudrun|gke]
    [--dry-run | --apply]
vacunometro rollout --backend gke --by track --to canary --grpcroute grpc-server --prometheus URL
    --max-lag 2s [--backend-refs stable=grpc-server-stable,canary=grpc-server-canary] [--apply]

Moves the split toward ROUTE step by step. At each step, over each interval, it judges ROUTE by its
own metrics, scraped from Prometheus-format endpoints (the ingest's /metrics by default): success
rate (records the route took / records sent to it), p99 from the request to the route's durable
handoff, and (with --max-lag) p99 from acceptance to MongoDB. A passing check moves to the next step;
a failing one counts against --max-failures, and at that many the split goes back to where it
started; too little traffic is inconclusive, never a pass (--max-inconclusive in a row also rolls
back). After the last step passes, ROUTE takes 100%. An interrupted rollout (SIGINT, SIGTERM, a
backend error) changes nothing more and prints where the split is and the commands to finish or undo.

Backends:
  local     GET/PUT TARGET/api/split with ADMIN_TOKEN (or the --token-file of ` + "`up`" + `).
  cloudrun  gcloud run services update-traffic SERVICE --region R --to-tags blue=X,green=Y,canary=Z
            (one revision per route, tagged as --tags says); prints the commands unless --apply.
  gke       kubectl patch httproute NAME -n NS --type=json (the backendRefs of --backend-refs);
            with --grpcroute NAME, a GRPCRoute instead; prints the commands unless --apply.

--by track (gke, with --prometheus): ROUTE is a release track, not an ingest route: the GRPCRoute
"grpc-server" weighs the gRPC server's tracks (stable, canary: --backend-refs, default
` + rollout.DefaultTrackRefs + `), and each check judges the pods of the track (series label "track",
which the PodMonitoring copies from the pod label vacunometro.io/track: the gRPC server's and the
workers' canaries alike) by their sinks: records stored against records they failed to store
(--min-success, --min-records) and the p99 store lag of what they stored (--max-lag, required).
  For cloudrun and gke, the metrics must cover every instance (a load balancer's /metrics is one
  instance's): --prometheus URL queries a Prometheus HTTP API with PromQL (sums over every
  instance), e.g. Managed Service for Prometheus, which the PodMonitorings (GKE) and the
  collector sidecar (Cloud Run) feed: its frontend, or
  https://monitoring.googleapis.com/v1/projects/PROJECT/location/global/prometheus with
  --prometheus-token-file holding an access token (gcloud auth print-access-token). Or --metrics
  with a Prometheus server's /federate?match[]={__name__=~"vacunometro_.*"}; the series of a
  route are added up over instances and URLs.

With REDIS_URL set (or, for ` + "`up`" + `'s embedded Redis, the URL in --redis-url-file), the state is
written to the Redis key {vac}:rollout (JSON) and announced with PUBLISH vacunometro.changed rollout,
for the dashboard.
Exit status: 0 promoted (or dry run), 1 rolled back or interrupted, 2 bad command line.

Flags:
`

type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// runRollout: progressive delivery of a route (internal/rollout).
func runRollout(ctx context.Context, set Settings, args []string, stdout, stderr *os.File) error {
	fs := newFlagSet("rollout", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), rolloutUsage)
		fs.PrintDefaults()
	}
	to := fs.String("to", "", "the route to promote: "+strings.Join(route.All, ", "))
	stepsFlag := fs.String("steps", "5,25,50,100", "the route's percentage at each step")
	interval := fs.Duration("interval", 30*time.Second, "length of one check")
	maxFailures := fs.Int("max-failures", 2, "roll back at this many failed checks")
	maxInconclusive := fs.Int("max-inconclusive", 3, "roll back at this many inconclusive checks in a row at one step")
	minSuccess := fs.Float64("min-success", 99, "least success rate of the route, percent")
	maxP99 := fs.Duration("max-p99", 500*time.Millisecond, "most p99 from the request to the route's durable handoff")
	maxLag := fs.Duration("max-lag", 0, "most p99 from acceptance to MongoDB (0: not judged; needs the sink's /metrics)")
	minRecords := fs.Int("min-records", 20, "fewest records on the route in one interval to judge it")
	target := fs.String("target", "http://127.0.0.1:8080", "the ingest (local backend; default metrics at TARGET/metrics)")
	var metricsURLs stringList
	promURL := fs.String("prometheus", "", "Prometheus HTTP API to query with PromQL instead of scraping --metrics (cloudrun, gke)")
	promSel := fs.String("prometheus-selector", "", `label matchers for every query, e.g. namespace="vacunometro"`)
	promToken := fs.String("prometheus-token-file", "", "file with a bearer token for --prometheus (Managed Service for Prometheus)")
	fs.Var(&metricsURLs, "metrics", "Prometheus-format endpoint to judge by (repeat or comma-separate; default TARGET/metrics)")
	backend := fs.String("backend", "local", "where the split lives: local, cloudrun, gke")
	dryRun := fs.Bool("dry-run", false, "print the plan and the commands, change nothing")
	apply := fs.Bool("apply", false, "cloudrun, gke: run the gcloud/kubectl commands (without it they are only printed)")
	tokenFile := fs.String("token-file", ".vacunometro/admin-token", "local: file with the admin token, when ADMIN_TOKEN is unset")
	redisFile := fs.String("redis-url-file", ".vacunometro/redis-url", "local: file with the URL of the embedded Redis of up, when REDIS_URL is unset (for the dashboard)")
	service := fs.String("service", "ingest", "cloudrun: the service")
	region := fs.String("region", "", "cloudrun: the region")
	project := fs.String("project", "", "cloudrun: the project (default: gcloud's)")
	tags := fs.String("tags", rollout.DefaultTags, "cloudrun: route=revision-tag, comma-separated")
	httpRoute := fs.String("httproute", "ingest", "gke: the HTTPRoute")
	grpcRoute := fs.String("grpcroute", "", "gke: a GRPCRoute to change instead of the HTTPRoute (e.g. grpc-server)")
	by := fs.String("by", "route", "what --to names: route (an ingest route) or track (a release track, judged by its pods' sink metrics)")
	namespace := fs.String("namespace", "vacunometro", "gke: its namespace")
	refs := fs.String("backend-refs", rollout.DefaultBackendRefs, "gke: route=backendRef-name, comma-separated")
	kubeContext := fs.String("kube-context", "", "gke: kubectl context (default: the current one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("rollout: unexpected arguments %q", fs.Args())
	}
	refsSet := false
	fs.Visit(func(f *flag.Flag) { refsSet = refsSet || f.Name == "backend-refs" })
	switch *by {
	case "route":
		if !slices.Contains(route.All, *to) {
			return usageError("rollout: --to must be one of %s", strings.Join(route.All, ", "))
		}
	case "track":
		switch {
		case *backend != "gke":
			return usageError("rollout: --by track needs --backend gke (the GRPCRoute between the gRPC server's tracks)")
		case *promURL == "":
			return usageError("rollout: --by track needs --prometheus: the tracks' pods are told apart by the series label %q of Managed Prometheus", rollout.TrackLabel)
		case *maxLag <= 0:
			return usageError("rollout: --by track judges latency by the store lag of the track's pods: set --max-lag (e.g. 2s)")
		case *to == "":
			return usageError("rollout: --to names the track to promote, e.g. canary")
		}
		if !refsSet {
			*refs = rollout.DefaultTrackRefs
		}
	default:
		return usageError("rollout: --by must be route or track")
	}
	steps, err := rollout.ParseSteps(*stepsFlag)
	if err != nil {
		return usageError("rollout: %v", err)
	}
	switch {
	case *interval <= 0:
		return usageError("rollout: --interval must be positive")
	case *maxFailures < 1:
		return usageError("rollout: --max-failures must be at least 1")
	case *maxInconclusive < 1:
		return usageError("rollout: --max-inconclusive must be at least 1")
	case *minSuccess < 0 || *minSuccess > 100:
		return usageError("rollout: --min-success is a percentage, 0 to 100")
	case *maxP99 <= 0:
		return usageError("rollout: --max-p99 must be positive")
	case *minRecords < 1:
		return usageError("rollout: --min-records must be at least 1")
	}
	*target = strings.TrimRight(*target, "/")
	log := newLogger(set, stderr).With("part", "rollout")

	var b rollout.Backend
	printOnly := *dryRun
	switch *backend {
	case "local":
		tok := set.AdminToken
		if tok == "" && *tokenFile != "" {
			if raw, err := os.ReadFile(*tokenFile); err == nil {
				tok = strings.TrimSpace(string(raw))
			}
		}
		if tok == "" && !*dryRun {
			return usageError("rollout: no admin token: set ADMIN_TOKEN (or --token-file, which `up` writes to DATA/admin-token)")
		}
		b = &rollout.Local{Target: *target, Token: tok}
		if len(metricsURLs) == 0 {
			metricsURLs = stringList{*target + "/metrics"}
		}
	case "cloudrun":
		b, err = rollout.NewCloudRun(*service, *region, *project, *tags)
		printOnly = printOnly || !*apply
	case "gke":
		kind, name := rollout.KindHTTPRoute, *httpRoute
		if *grpcRoute != "" {
			kind, name = rollout.KindGRPCRoute, *grpcRoute
		}
		b, err = rollout.NewGKE(kind, name, *namespace, *refs, *kubeContext)
		printOnly = printOnly || !*apply
	default:
		return usageError("rollout: --backend must be local, cloudrun or gke")
	}
	if err != nil {
		return usageError("rollout: %v", err)
	}
	if !printOnly && len(metricsURLs) == 0 && *promURL == "" {
		return usageError("rollout: --metrics is required with --backend %s: a Prometheus-format endpoint covering every instance (see --help)", *backend)
	}

	plan, err := rollout.Prepare(ctx, b, *to, steps)
	if err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	if printOnly {
		rollout.PrintPlan(stdout, b, plan)
		if !*dryRun {
			fmt.Fprintf(stdout, "(printed only: add --apply to run them, judging %s by --metrics at each step)\n", *to)
		}
		return nil
	}

	cfg := rollout.Config{
		Route: *to, Steps: steps, Interval: *interval, MaxFailures: *maxFailures, MaxInconclusive: *maxInconclusive,
		Thresholds: rollout.Thresholds{MinSuccess: *minSuccess, MaxP99: *maxP99, MaxLag: *maxLag, MinRecords: *minRecords},
		Backend:    b, Metrics: &rollout.Scraper{URLs: metricsURLs}, Out: stdout, Log: log,
	}
	if *promURL != "" {
		pq, err := rollout.NewPromQuery(*promURL, *promSel, *promToken)
		if err != nil {
			return usageError("rollout: %v", err)
		}
		cfg.Metrics = pq
		if *by == "track" {
			cfg.Metrics = &rollout.TrackQuery{Prom: pq}
		}
	}
	if set.RedisURL == "" && *backend == "local" && *redisFile != "" {
		if raw, err := os.ReadFile(*redisFile); err == nil {
			set.RedisURL = strings.TrimSpace(string(raw))
		}
	}
	if set.RedisURL == "" {
		log.Info("REDIS_URL is not set: the rollout is not published for the dashboard")
	} else {
		p, err := rollout.NewRedisPublisher(set.RedisURL)
		if err != nil {
			return usageError("rollout: %v", err)
		}
		defer p.Close()
		cfg.Publisher = p
	}
	res, err := rollout.Run(ctx, cfg, plan)
	if err != nil {
		return err
	}
	if res.Verdict == rollout.RolledBack {
		return errors.New("rollout: rolled back: " + res.Reason)
	}
	return nil
}
