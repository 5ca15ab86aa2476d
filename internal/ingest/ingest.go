// Package ingest provides the HTTP front door: it decodes and validates
// records, picks a route for each request by the weighted split, and answers
// 202 only once the route has durably taken every record.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vacunometro/vacunometro/internal/httpx"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/record"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/split"
	"github.com/vacunometro/vacunometro/internal/tracing"
)

// DefaultMaxBody is the request body limit.
const DefaultMaxBody = 4 << 20

// Config wires a Server.
type Config struct {
	Decoder        *record.Decoder
	Routes         map[string]route.Route // by name; only these may get weight
	Splitter       *split.Splitter
	MaxBody        int64         // default DefaultMaxBody
	Failover       bool          // try the other routes with weight when the chosen one fails
	DeliverTimeout time.Duration // whole request (default 20s)
	AttemptTimeout time.Duration // one route, when another could take over (default 4s)
	Metrics        *metrics.Metrics
	Log            *slog.Logger
	Tracer         trace.Tracer // optional
}

// Server handles the ingest's HTTP API.
type Server struct {
	cfg Config
}

// New returns the ingest server.
func New(cfg Config) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.DeliverTimeout <= 0 {
		cfg.DeliverTimeout = 20 * time.Second
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 4 * time.Second
	}
	cfg.Tracer = tracing.OrNoop(cfg.Tracer)
	return &Server{cfg: cfg}
}

// Accepted is the 202 answer.
type Accepted struct {
	Accepted int      `json:"accepted"`
	IDs      []string `json:"ids"`
	Route    string   `json:"route"`
}

// Register adds the ingest's endpoints to mux.
func (s *Server) Register(mux *http.ServeMux) {
	m := s.cfg.Metrics
	ingest := httpx.Instrument(m, "records", http.HandlerFunc(s.handleRecords))
	mux.Handle("POST /api/records", ingest)
	mux.Handle("POST /{$}", ingest) // the seed's Locust file posts to /
}

var acceptedTypes = []string{"application/json", "application/x-ndjson", "application/ndjson", "application/jsonl", "application/jsonlines", "application/json-seq"}

func (s *Server) handleRecords(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !slices.Contains(acceptedTypes, mt) {
			httpx.WriteError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Type %q: send application/json (an object or an array) or application/x-ndjson", ct))
			return
		}
	}
	ctx, span := s.cfg.Tracer.Start(r.Context(), "ingest.records", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpx.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes: send smaller batches", s.cfg.MaxBody))
			return
		}
		httpx.WriteError(w, http.StatusBadRequest, "could not read the body: "+err.Error())
		return
	}
	recs, err := s.cfg.Decoder.Decode(body)
	if err != nil {
		s.writeDecodeError(w, err)
		return
	}
	n := len(recs)
	span.SetAttributes(attribute.Int("records", n))
	first := s.cfg.Splitter.NextN(n)
	if first == "" {
		httpx.WriteError(w, http.StatusServiceUnavailable, "no route has weight: PUT /api/split")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DeliverTimeout)
	defer cancel()
	var lastErr error
	candidates := s.candidates(first)
	for k, name := range candidates {
		rt := s.cfg.Routes[name]
		// While another route could take over, give this one only part of
		// the time: a route that hangs (a server restarting) must not eat
		// the whole request.
		actx, acancel := ctx, context.CancelFunc(func() {})
		if k < len(candidates)-1 {
			actx, acancel = context.WithTimeout(ctx, s.cfg.AttemptTimeout)
		}
		dctx, dspan := s.cfg.Tracer.Start(actx, "route.deliver", trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(attribute.String("route", name), attribute.Int("records", n)))
		tp := tracing.Traceparent(dctx)
		for i := range recs {
			recs[i].Route = name
			recs[i].Trace = tp
		}
		start := time.Now()
		err := rt.Deliver(dctx, recs)
		if err != nil {
			dspan.RecordError(err)
			dspan.SetStatus(codes.Error, "route failed")
		}
		dspan.End()
		acancel()
		if err == nil {
			span.SetAttributes(attribute.String("route", name))
			s.cfg.Metrics.Handoff.WithLabelValues(name).Observe(time.Since(start).Seconds())
			s.cfg.Metrics.Records.WithLabelValues(name, "accepted").Add(float64(n))
			ids := make([]string, n)
			for i := range recs {
				ids[i] = recs[i].ID
			}
			httpx.WriteJSON(w, http.StatusAccepted, Accepted{Accepted: n, IDs: ids, Route: name})
			return
		}
		lastErr = err
		s.cfg.Metrics.RouteErrors.WithLabelValues(name).Inc()
		s.cfg.Metrics.Records.WithLabelValues(name, "failed").Add(float64(n))
		s.cfg.Log.Warn("route failed", "route", name, "records", n, "err", err)
		if ctx.Err() != nil {
			break
		}
	}
	w.Header().Set("Retry-After", "1")
	httpx.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("not accepted, nothing to count: no route took the records (%v); retry with the same ids", lastErr))
}

// candidates lists the route to try first, then (with failover) the other
// routes that have weight.
func (s *Server) candidates(first string) []string {
	out := []string{first}
	if !s.cfg.Failover {
		return out
	}
	w := s.cfg.Splitter.Weights()
	for _, name := range route.All {
		if name != first && w[name] > 0 && s.cfg.Routes[name] != nil {
			out = append(out, name)
		}
	}
	return out
}

func (s *Server) writeDecodeError(w http.ResponseWriter, err error) {
	s.cfg.Metrics.Records.WithLabelValues("", "rejected").Inc()
	var be *record.BatchError
	var se *record.SyntaxError
	var tm *record.TooManyError
	switch {
	case errors.As(err, &be):
		httpx.WriteJSON(w, http.StatusUnprocessableEntity, httpx.Error{Error: "invalid records: nothing was stored; fix the fields listed and send the request again", Errors: be.Errors})
	case errors.As(err, &se):
		httpx.WriteJSON(w, http.StatusBadRequest, httpx.Error{Error: se.Error(), Errors: []record.FieldError{{Index: max(se.Index, 0), Field: "body", Message: se.Msg}}})
	case errors.As(err, &tm):
		httpx.WriteError(w, http.StatusRequestEntityTooLarge, tm.Error())
	default:
		httpx.WriteError(w, http.StatusBadRequest, err.Error())
	}
}

// RouteNames are the routes this ingest can deliver to, in route.All order.
func (s *Server) RouteNames() []string {
	var names []string
	for _, n := range route.All {
		if s.cfg.Routes[n] != nil {
			names = append(names, n)
		}
	}
	return names
}
