package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/vacunometro/vacunometro/internal/embedded"
)

// The bench's own server modes run in child processes of the bench, so that
// the references, like `vacunometro up`, do not share a Go runtime with the
// load generator:
//
//	bench serve-ref      -addr A                     the do-nothing JSON handler
//	bench serve-seed     -addr A -grpc G -mongo U -redis R -db D   the seed's design
//	bench serve-ferretdb -addr A -dir D              FerretDB on SQLite
func serveMode(args []string) (bool, error) {
	if len(args) == 0 {
		return false, nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	switch args[0] {
	case "serve-ref":
		return true, serveRef(ctx, args[1:])
	case "serve-seed":
		return true, serveSeed(ctx, args[1:])
	case "serve-ferretdb":
		return true, serveFerretDB(ctx, args[1:])
	}
	return false, nil
}

func listenAndServe(ctx context.Context, addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("listen %s: %w", addr, err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

func readyz(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

// refRecord is the input record, decoded and nothing more.
type refRecord struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Location    string `json:"location"`
	Age         int    `json:"age"`
	VaccineType string `json:"vaccine_type"`
	NDose       int    `json:"n_dose"`
}

// serveRef is the reference: an HTTP handler that decodes the JSON (one
// object or an array) and answers 202 with one id per record, like the ingest.
func serveRef(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve-ref", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var seq atomic.Uint64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", readyz)
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var recs []refRecord
		if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '[' {
			err = json.Unmarshal(b, &recs)
		} else {
			recs = make([]refRecord, 1)
			err = json.Unmarshal(b, &recs[0])
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out := struct {
			Accepted int      `json:"accepted"`
			IDs      []string `json:"ids"`
			Route    string   `json:"route"`
		}{Accepted: len(recs), IDs: make([]string, len(recs)), Route: "reference"}
		for i := range recs {
			out.IDs[i] = "ref-" + strconv.FormatUint(seq.Add(1), 36)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(out)
	})
	return listenAndServe(ctx, *addr, mux)
}

// seedRequest is the seed's record struct (gRPC server and Redis sub).
type seedRequest struct {
	Name        string `json:"name"`
	Location    string `json:"location"`
	Age         int    `json:"age"`
	VaccineType string `json:"vaccine_type"`
	NDose       int    `json:"n_dose"`
}

// The seed's gRPC service: helloworld.Greeter/SayHello with the record's JSON
// in the request's name. wrapperspb.StringValue stands in for
// HelloRequest{name} and HelloReply{message}: one string field each.
const seedMethod = "/helloworld.Greeter/SayHello"

type seedGreeter interface {
	SayHello(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error)
}

var seedServiceDesc = grpc.ServiceDesc{
	ServiceName: "helloworld.Greeter",
	HandlerType: (*seedGreeter)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "SayHello",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(seedGreeter).SayHello(ctx, in)
		},
	}},
}

type seedServer struct {
	mongoURI, redisAddr, database string
	log                           *slog.Logger
}

// SayHello is the seed's gRPC server: per call a new MongoDB client,
// InsertOne, a new Redis connection, HMSET.
func (s *seedServer) SayHello(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(s.mongoURI))
	if err != nil {
		return nil, err
	}
	// The seed never disconnected (its leaked connections crashed it after a
	// few thousand requests); we do, so the baseline is kinder than the seed.
	defer client.Disconnect(context.Background())
	collection := client.Database(s.database).Collection("users")
	var req seedRequest
	_ = json.Unmarshal([]byte(in.GetValue()), &req)
	res, err := collection.InsertOne(context.TODO(), req)
	if err != nil {
		return nil, err
	}
	c := redis.NewClient(&redis.Options{Addr: s.redisAddr, PoolSize: 1})
	defer c.Close()
	id := fmt.Sprint(res.InsertedID)
	if err := c.HMSet(ctx, "seed:"+id, "Name", req.Name, "Location", req.Location, "Age", req.Age,
		"Vaccine_type", req.VaccineType, "N_dose", req.NDose).Err(); err != nil {
		s.log.Warn("Error insertando objeto en redis desde GRPC", "err", err)
	}
	return &wrapperspb.StringValue{Value: "Hello " + in.GetValue()}, nil
}

// serveSeed runs the seed's blue route: an HTTP "gRPC client" that dials the
// gRPC server anew for every request, and that gRPC server.
func serveSeed(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve-seed", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "HTTP listen address")
	grpcAddr := fs.String("grpc", "127.0.0.1:0", "gRPC listen address")
	mongoURI := fs.String("mongo", "", "MongoDB URI")
	redisAddr := fs.String("redis", "", "Redis host:port")
	database := fs.String("db", "seed", "MongoDB database")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	lis, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		return fmt.Errorf("seed grpc listen: %w", err)
	}
	gs := grpc.NewServer()
	gs.RegisterService(&seedServiceDesc, &seedServer{mongoURI: *mongoURI, redisAddr: *redisAddr, database: *database, log: log})
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	target := lis.Addr().String()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", readyz)
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		reqBody, _ := io.ReadAll(r.Body)
		data := string(reqBody)
		// connect_with_grpc_server: a new connection per request, 1 s timeout.
		conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer conn.Close()
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		out := new(wrapperspb.StringValue)
		if err := conn.Invoke(cctx, seedMethod, wrapperspb.String(data), out, grpc.WaitForReady(true)); err != nil {
			// The seed logged and answered 200 anyway; we answer 500 so that
			// the bench counts the failure.
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return listenAndServe(ctx, *addr, mux)
}

// serveFerretDB runs FerretDB on SQLite until stopped.
func serveFerretDB(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve-ferretdb", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:27017", "listen address")
	dir := fs.String("dir", "", "SQLite directory")
	debug := fs.String("debug-addr", "", "serve Go's /debug/pprof here (make bench -profile)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *debug != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		go func() { _ = listenAndServe(ctx, *debug, mux) }()
	}
	if *dir == "" {
		return errors.New("serve-ferretdb: -dir is required")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f, err := embedded.StartFerretDB(ctx, *dir, *addr, log)
	if err != nil {
		return err
	}
	fmt.Println("MONGODB_URI=" + f.URI)
	<-ctx.Done()
	f.Stop()
	return nil
}
