package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/route/pubsubroute"
	"github.com/vacunometro/vacunometro/internal/stats"
	"github.com/vacunometro/vacunometro/internal/store"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// cluster is vacunometro deployed as separate processes, as on GKE and
// Cloud Run, against services of the test's own.
type cluster struct {
	t         *testing.T
	Redis     *testenv.RedisServer
	RDB       *redis.Client
	Store     *store.Store
	MongoURI  string
	MongoDB   string
	PSHost    string
	PSProject string
	Token     string
	GRPCAddr  string
	Split     string
	Env       []string

	GRPC, WorkerRedis, WorkerPubSub, Ingest, Realtime *proc

	all       []*proc // every process started, killed ones too (their logs)
	consumers int
}

type clusterOptions struct {
	Split  string // default grpc=34,redis=33,pubsub=33
	PSHost string // default pubsubHost(t)
	// AckDeadline, when set, makes the test create the topic and the
	// subscription with this ack deadline before the parts start (what
	// Terraform does on Google Cloud); otherwise the parts create them (60 s).
	AckDeadline time.Duration
}

// newCluster starts redis-server (AOF, fsync always), FerretDB, and the five
// parts of vacunometro.
func newCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	if o.Split == "" {
		o.Split = "grpc=34,redis=33,pubsub=33"
	}
	if o.PSHost == "" {
		o.PSHost = pubsubHost(t)
	}
	c := &cluster{t: t, Split: o.Split, PSHost: o.PSHost, Token: randomToken()}
	c.Redis = testenv.StartRedis(t, true)
	c.RDB = c.Redis.Client(t)
	c.MongoURI, c.MongoDB = testenv.Mongo(t)
	c.PSProject = fmt.Sprintf("chaos-%d", time.Now().UnixNano()%1e9)
	c.GRPCAddr = testenv.FreeAddr(t)
	c.Env = testenv.CleanEnv(
		"REDIS_URL="+c.Redis.URL, "MONGODB_URI="+c.MongoURI, "MONGODB_DATABASE="+c.MongoDB,
		"PUBSUB_EMULATOR_HOST="+c.PSHost, "PUBSUB_PROJECT="+c.PSProject,
		"ADMIN_TOKEN="+c.Token, "GRPC_SERVER_ADDRESS="+c.GRPCAddr, "LOG_LEVEL=info",
	)
	st, err := store.Open(context.Background(), c.MongoURI, c.MongoDB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	c.Store = st
	if o.AckDeadline > 0 {
		if err := c.createTopology(o.AckDeadline); err != nil {
			t.Fatal(err)
		}
	}

	c.GRPC = c.StartGRPC()
	c.WorkerRedis = c.StartWorkerRedis()
	c.WorkerPubSub = c.StartWorkerPubSub()
	addr := testenv.FreeAddr(t)
	c.Ingest = c.start("ingest", addr, "ingest", "--addr", addr, "--split", c.Split)
	addr = testenv.FreeAddr(t)
	c.Realtime = c.start("realtime", addr, "realtime", "--addr", addr, "--web", t.TempDir())
	return c
}

func (c *cluster) start(name, addr string, args ...string) *proc {
	p := startProc(c.t, name, c.Env, addr, args...)
	c.all = append(c.all, p)
	return p
}

// StartGRPC starts a gRPC server on the cluster's gRPC address.
func (c *cluster) StartGRPC() *proc {
	h := testenv.FreeAddr(c.t)
	return c.start("grpc-server", h, "grpc-server", "--addr", c.GRPCAddr, "--health-addr", h)
}

// StartWorkerRedis starts a Redis worker under a new consumer name that
// claims entries left pending for 2 s.
func (c *cluster) StartWorkerRedis() *proc {
	c.consumers++
	h := testenv.FreeAddr(c.t)
	return c.start("worker-redis", h, "worker", "redis", "--health-addr", h,
		"--consumer", fmt.Sprintf("chaos-%d", c.consumers), "--claim-idle", "2s")
}

// StartWorkerPubSub starts a Pub/Sub worker.
func (c *cluster) StartWorkerPubSub() *proc {
	h := testenv.FreeAddr(c.t)
	return c.start("worker-pubsub", h, "worker", "pubsub", "--health-addr", h)
}

// Snapshot reads /api/stats from the realtime tier.
func (c *cluster) Snapshot() (*stats.Snapshot, error) {
	cl := &http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get(c.Realtime.URL + "/api/stats")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/stats: %s", resp.Status)
	}
	var s stats.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("GET /api/stats: %w", err)
	}
	return &s, nil
}

// PubSubClient returns a client of the cluster's Pub/Sub project.
func (c *cluster) PubSubClient() *pubsub.Client {
	c.t.Helper()
	ps, err := pubsubroute.Connect(context.Background(), c.PSProject, c.PSHost)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = ps.Close() })
	return ps
}

// EnsureTopology creates the topic and subscription (what Terraform keeps
// on Google Cloud; an emulator forgets them when it restarts).
func (c *cluster) EnsureTopology(ctx context.Context) error {
	ps, err := pubsubroute.Connect(ctx, c.PSProject, c.PSHost)
	if err != nil {
		return err
	}
	defer ps.Close()
	return pubsubroute.EnsureTopology(ctx, ps, pubsubroute.DefaultTopic, pubsubroute.DefaultSubscription)
}

// createTopology creates the topic and a subscription with the given ack deadline.
func (c *cluster) createTopology(ack time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ps, err := pubsubroute.Connect(ctx, c.PSProject, c.PSHost)
	if err != nil {
		return err
	}
	defer ps.Close()
	topic := fmt.Sprintf("projects/%s/topics/%s", c.PSProject, pubsubroute.DefaultTopic)
	if _, err := ps.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	_, err = ps.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name:  fmt.Sprintf("projects/%s/subscriptions/%s", c.PSProject, pubsubroute.DefaultSubscription),
		Topic: topic, AckDeadlineSeconds: int32(ack / time.Second),
	})
	if err != nil {
		return fmt.Errorf("create subscription: %w", err)
	}
	return nil
}

// logsContaining returns the lines of every part's logs that contain s.
func (c *cluster) logsContaining(s string) []string {
	var out []string
	for _, p := range c.all {
		for _, line := range strings.Split(p.Logs(0), "\n") {
			if strings.Contains(line, s) {
				out = append(out, p.Name+": "+line)
			}
		}
	}
	return out
}

// command returns `vacunometro args...` with the cluster's environment.
func (c *cluster) command(args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = c.Env
	return cmd
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// sameFigures lists the figures in which two snapshots differ (not the
// times, the rate or the latest records).
func sameFigures(a, b *stats.Snapshot) []string {
	var out []string
	check := func(what string, x, y int64) {
		if x != y {
			out = append(out, fmt.Sprintf("%s: %d then %d", what, x, y))
		}
	}
	check("total", a.Total, b.Total)
	check("people_vaccinated", a.PeopleVaccinated, b.PeopleVaccinated)
	check("fully_vaccinated", a.FullyVaccinated, b.FullyVaccinated)
	check("boosters", a.Boosters, b.Boosters)
	if len(a.Departments) != len(b.Departments) || len(a.Vaccines) != len(b.Vaccines) ||
		len(a.AgeBands) != len(b.AgeBands) || len(a.Routes) != len(b.Routes) || len(a.Doses) != len(b.Doses) {
		return append(out, "the snapshots have different shapes")
	}
	for i := range a.Departments {
		for d := range 4 {
			check(fmt.Sprintf("%s dose %d", a.Departments[i].Code, d+1), a.Departments[i].Doses[d], b.Departments[i].Doses[d])
		}
	}
	for i := range a.Vaccines {
		check("vaccine "+a.Vaccines[i].Name, a.Vaccines[i].Count, b.Vaccines[i].Count)
	}
	for i := range a.Doses {
		check("dose "+a.Doses[i].Name, a.Doses[i].Count, b.Doses[i].Count)
	}
	for i := range a.AgeBands {
		check("age "+a.AgeBands[i].Name, a.AgeBands[i].Count, b.AgeBands[i].Count)
	}
	for i := range a.Routes {
		check("route "+a.Routes[i].Name, a.Routes[i].Count, b.Routes[i].Count)
	}
	return out
}
