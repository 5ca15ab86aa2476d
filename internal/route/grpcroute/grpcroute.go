// Package grpcroute provides the gRPC route: the ingest's client sends
// group-committed batches to the gRPC server, which stores them through the
// sink before answering.
package grpcroute

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	retry "github.com/vacunometro/vacunometro/internal/backoff"
	"github.com/vacunometro/vacunometro/internal/batch"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	pb "github.com/vacunometro/vacunometro/proto/vacunometro/v1"
)

// MaxMessageBytes bounds one Deliver call (a batch of at most a few thousand records).
const MaxMessageBytes = 8 << 20

// Server is the gRPC server side: RecordSink backed by the sink.
type Server struct {
	pb.UnimplementedRecordSinkServer
	consume route.Consumer[*pb.RecordBatch]
}

// NewServer returns the RecordSink service (deps.Tracer, when set, records
// a span per call: see internal/tracing). Register it with NewGRPCServer.
func NewServer(deps route.ConsumerDeps) *Server {
	// No Ack, Retry or DeadLetter: the call's answer is the
	// acknowledgement, and a batch that can never be stored is refused.
	// Urgent: the ingest's 202 waits on the answer.
	return &Server{consume: route.Consumer[*pb.RecordBatch]{Deps: deps, Span: "grpc.Deliver", Urgent: true,
		Decode: func(b *pb.RecordBatch) ([]record.Record, error) { return route.CheckBatch(b, deps.Catalog) }}}
}

// NewGRPCServer returns a grpc.Server with sane limits and keep-alive,
// with the service registered.
func NewGRPCServer(svc *Server, opts ...grpc.ServerOption) *grpc.Server {
	opts = append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}, opts...)
	gs := grpc.NewServer(opts...)
	pb.RegisterRecordSinkServer(gs, svc)
	return gs
}

// Deliver stores the batch and answers once MongoDB holds every record.
func (s *Server) Deliver(ctx context.Context, req *pb.DeliverRequest) (*pb.DeliverResponse, error) {
	n, err := s.consume.Handle(ctx, []*pb.RecordBatch{req.GetBatch()}, attribute.String("route", route.GRPC))
	var poison *route.PoisonError
	switch {
	case errors.As(err, &poison):
		return nil, status.Errorf(codes.InvalidArgument, "invalid batch: %v", poison)
	case err != nil && ctx.Err() != nil:
		return nil, status.FromContextError(ctx.Err()).Err()
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "store: %v", err)
	}
	return &pb.DeliverResponse{Held: uint32(n)}, nil
}

// Client is the ingest side: one long-lived connection, group commit.
type Client struct {
	*route.Batched
	conn *grpc.ClientConn
	rpc  pb.RecordSinkClient
}

// Options tune the client.
type Options struct {
	MaxBatch    int // records per call (default 500)
	MaxInFlight int // concurrent calls (default route.DefaultInFlight: fewer, fuller calls cost less per record)
}

// Dial connects lazily to addr (host:port). Linkerd adds mTLS in the cluster.
func Dial(addr string, opts Options, dialOpts ...grpc.DialOption) (*Client, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 500
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = route.DefaultInFlight
	}
	dialOpts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		// Reconnect quickly after the server restarts: gRPC's default
		// back-off grows to two minutes, long after the server is back.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 2 * time.Second,
		}),
	}, dialOpts...)
	conn, err := grpc.NewClient(addr, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("grpc route: dial %s: %w", addr, err)
	}
	c := &Client{conn: conn, rpc: pb.NewRecordSinkClient(conn)}
	c.Batched = route.NewBatched(route.GRPC, c.send, batch.Options{MaxItems: opts.MaxBatch, MaxInFlight: opts.MaxInFlight, FlushTimeout: 20 * time.Second},
		func() error {
			if err := conn.Close(); err != nil && status.Code(err) != codes.Canceled { // closed already
				return fmt.Errorf("grpc route: close: %w", err)
			}
			return nil
		})
	return c, nil
}

func (c *Client) send(ctx context.Context, recs []record.Record) error {
	req := &pb.DeliverRequest{Batch: record.BatchToProto(recs)}
	pause := retry.New(20*time.Millisecond, time.Second)
	for {
		// WaitForReady: while the server restarts, wait for it (up to the
		// flush timeout) rather than failing at once. A call cut off by a
		// dying server is retried: records carry ids, storing is idempotent.
		_, err := c.rpc.Deliver(ctx, req, grpc.WaitForReady(true))
		if err == nil {
			return nil
		}
		s, _ := status.FromError(err)
		switch {
		case s.Code() == codes.InvalidArgument:
			return fmt.Errorf("server refused batch: %s", s.Message())
		case s.Code() != codes.Unavailable || ctx.Err() != nil:
			return err
		}
		if !pause.Wait(ctx) {
			return err
		}
	}
}
