// Package ingest provides the HTTP front door: it decodes and validates
// records, picks a route for each request by the weighted split, and answers
// 202 only once the route has durably taken every record.
package ingest

import (
	"context"
	"errors"
	"fmt"
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

// DefaultMaxBody is the request body limit (after decompression).
const DefaultMaxBody = 4 << 20

// DefaultBodyBudget bounds the memory that the bodies of all record
// requests in flight may hold together: eight full-size bodies, or many
// small ones. A request over it is answered 503 with Retry-After.
const DefaultBodyBudget = 8 * DefaultMaxBody

// Config wires a Server.
type Config struct {
	Decoder  *record.Decoder
	Routes   map[string]route.Route // by name; only these may get weight
	Splitter *split.Splitter
	// IDClaims, when set, answers 409 to a client id reused with other
	// data (see IDClaims); when it fails, records are delivered unchecked.
	IDClaims IDClaims
	// Auth checks the producer key of every record request (required).
	Auth Authenticator
	// Quota, when set, limits each producer's records per second.
	Quota          Limiter
	MaxBody        int64         // default DefaultMaxBody
	BodyBudget     int64         // bytes of bodies in flight, all requests together; default DefaultBodyBudget
	Failover       bool          // try the other routes with weight when the chosen one fails
	DeliverTimeout time.Duration // whole request (default 20s)
	AttemptTimeout time.Duration // one route, when another could take over (default 4s)
	Metrics        *metrics.Metrics
	Log            *slog.Logger
	Tracer         trace.Tracer // optional
}

// Server handles the ingest's HTTP API.
type Server struct {
	cfg       Config
	budget    *httpx.BodyBudget
	claimWarn *httpx.LogLimiter
	authWarn  *httpx.LogLimiter
	quotaWarn *httpx.LogLimiter
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
	if cfg.BodyBudget <= 0 {
		cfg.BodyBudget = DefaultBodyBudget
	}
	if cfg.BodyBudget < cfg.MaxBody {
		cfg.BodyBudget = cfg.MaxBody
	}
	cfg.Tracer = tracing.OrNoop(cfg.Tracer)
	if cfg.Auth == nil {
		panic("ingest: Config.Auth is required (producer keys)")
	}
	return &Server{cfg: cfg, budget: httpx.NewBodyBudget(cfg.BodyBudget), claimWarn: httpx.NewLogLimiter(10 * time.Second),
		authWarn: httpx.NewLogLimiter(httpx.RefusedLogInterval), quotaWarn: httpx.NewLogLimiter(10 * time.Second)}
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

// acceptedTypes are the media types of record bodies. application/json-seq
// (RFC 7464: each object after an RS byte) is read as NDJSON.
var acceptedTypes = []string{"application/json", "application/x-ndjson", "application/ndjson", "application/jsonl", "application/jsonlines", "application/json-seq"}

func (s *Server) handleRecords(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !slices.Contains(acceptedTypes, mt) {
			httpx.WriteError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Type %q: send application/json (an object or an array) or application/x-ndjson", ct))
			return
		}
	}
	ctx, span := s.cfg.Tracer.Start(r.Context(), "ingest.records", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	body, release, err := httpx.ReadBody(w, r, s.cfg.MaxBody, s.budget)
	// Held until the answer: the records decoded from the body live as
	// long as their delivery.
	defer release()
	if err != nil {
		var be *httpx.BodyError
		if errors.As(err, &be) {
			if be.Code == http.StatusServiceUnavailable {
				httpx.RetryAfter(w, time.Second)
			}
			httpx.WriteError(w, be.Code, be.Msg)
			return
		}
		httpx.WriteError(w, http.StatusBadRequest, "could not read the body: "+err.Error())
		return
	}
	recs, clientIDs, err := s.cfg.Decoder.DecodeClient(body)
	if err != nil {
		s.writeDecodeError(w, err)
		return
	}
	n := len(recs)
	if !s.takeQuota(ctx, w, who, n) {
		return
	}
	unclaim, ok := s.claimIDs(ctx, w, recs, clientIDs)
	if !ok {
		return
	}
	span.SetAttributes(attribute.String("producer", who.Name))
	span.SetAttributes(attribute.Int("records", n))
	first := s.cfg.Splitter.NextN(n)
	if first == "" {
		unclaim()
		httpx.WriteError(w, http.StatusServiceUnavailable, "no route has weight: PUT /api/split")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DeliverTimeout)
	defer cancel()
	var lastErr error
	candidates := s.candidates(first)
	for k, name := range candidates {
		rt := s.cfg.Routes[name]
		// While another route could take over, a route that hangs (a
		// server restarting) must not eat the whole request.
		actx, acancel := ctx, context.CancelFunc(func() {})
		if k < len(candidates)-1 {
			actx, acancel = s.attempt(ctx, rt)
		}
		dctx, dspan := s.cfg.Tracer.Start(actx, "route.deliver", trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(attribute.String("route", name), attribute.Int("records", n)))
		tp := tracing.Traceparent(dctx)
		for i := range recs {
			recs[i].Route = name
			recs[i].Trace = tp
			recs[i].Producer = who.Name
		}
		start := time.Now()
		err := rt.Deliver(dctx, recs)
		if err != nil && ctx.Err() == nil && actx.Err() != nil {
			err = context.Cause(actx) // the attempt's end, not the caller's
		}
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
			s.cfg.Metrics.Producer.WithLabelValues(who.Name, "accepted").Add(float64(n))
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
	unclaim()
	w.Header().Set("Retry-After", "1")
	httpx.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("not accepted, nothing to count: no route took the records (%v); retry with the same ids", lastErr))
}

// attempt bounds one route's try while another could take over. It ends
// once the route has finished no write for AttemptTimeout since the try
// began: a route that hangs gives way to the next. A route that goes on
// finishing writes keeps the request (up to DeliverTimeout) however long
// its own write waits: that is a saturated pipeline, slow on every route
// alike since they share the sink, and handing the records to another
// route would have both store them, doubling the work of the part that is
// short of capacity (records a route already took are stored again, as
// duplicates). A route that cannot tell (no route.Progress) gets
// AttemptTimeout flat.
func (s *Server) attempt(ctx context.Context, rt route.Route) (context.Context, context.CancelFunc) {
	p, ok := rt.(route.Progress)
	if !ok {
		return context.WithTimeout(ctx, s.cfg.AttemptTimeout)
	}
	actx, cancel := context.WithCancelCause(ctx)
	start := time.Now()
	var check func()
	check = func() {
		if actx.Err() != nil {
			return
		}
		alive := start
		if last := p.LastWrite(); last.After(alive) {
			alive = last
		}
		if wait := time.Until(alive.Add(s.cfg.AttemptTimeout)); wait > 0 {
			time.AfterFunc(wait, check)
			return
		}
		cancel(fmt.Errorf("%s route finished no write for %v: %w", rt.Name(), s.cfg.AttemptTimeout, context.DeadlineExceeded))
	}
	t := time.AfterFunc(s.cfg.AttemptTimeout, check)
	return actx, func() { t.Stop(); cancel(nil) }
}

// Conflict is the 409 answer: ids accepted before with other data.
type Conflict struct {
	Error  string              `json:"error"`
	Errors []record.FieldError `json:"errors"`
	IDs    []string            `json:"ids"`
}

// claimIDs claims the client-supplied ids of recs. It answers 409 and
// returns false when one was accepted before with other data; otherwise it
// returns the function that gives the claims up if no route takes the
// records.
// claimTimeout bounds the id-claims check of one request.
const claimTimeout = 300 * time.Millisecond

func (s *Server) claimIDs(ctx context.Context, w http.ResponseWriter, recs []record.Record, clientIDs []int) (func(), bool) {
	none := func() {}
	if s.cfg.IDClaims == nil || len(clientIDs) == 0 {
		return none, true
	}
	claims := make([]IDClaim, len(clientIDs))
	for k, i := range clientIDs {
		claims[k] = IDClaim{ID: recs[i].ID, Fingerprint: Fingerprint(recs[i])}
	}
	// A best-effort check: a Redis that does not answer at once must not
	// hold the request up (the route's own hand-off decides the answer).
	cctx, cancel := context.WithTimeout(ctx, min(s.cfg.AttemptTimeout, claimTimeout))
	conflicts, rel, err := s.cfg.IDClaims.Claim(cctx, claims)
	cancel()
	if err != nil {
		if n, ok := s.claimWarn.Allow(); ok {
			s.cfg.Log.Warn("id claims unavailable: records delivered without the reuse check", "err", err, "times", n)
		}
		return none, true
	}
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.AttemptTimeout)
		defer cancel()
		rel(rctx)
	}
	if len(conflicts) == 0 {
		return release, true
	}
	release()
	c := Conflict{Error: "id reused with different data: nothing was stored from this request; the record first accepted under each id is kept. Send new records under new ids"}
	for _, k := range conflicts {
		i := clientIDs[k]
		c.IDs = append(c.IDs, recs[i].ID)
		c.Errors = append(c.Errors, record.FieldError{Index: i, Field: "id", Message: fmt.Sprintf("id %q was accepted before with other data", recs[i].ID)})
	}
	s.cfg.Metrics.Records.WithLabelValues("", "conflict").Add(float64(len(recs)))
	httpx.WriteJSON(w, http.StatusConflict, c)
	return nil, false
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
