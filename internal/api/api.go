// Package api provides the HTTP endpoints that sit beside the ingest: the
// statistics snapshot (GET /api/stats) and the split (GET /api/split, and
// PUT /api/split behind the admin token). The ingest itself only takes
// records; these read the view and change the splitter it shares.
package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/vacunometro/vacunometro/internal/httpx"
	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/route"
	"github.com/vacunometro/vacunometro/internal/split"
)

// Snapshotter gives the current statistics (stats.View does).
type Snapshotter[S any] interface {
	Snapshot(ctx context.Context) (S, error)
}

// Stats serves the statistics snapshot (GET /api/stats).
func Stats[S any](view Snapshotter[S], log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		snap, err := view.Snapshot(r.Context())
		if err != nil {
			log.Error("snapshot", "err", err)
			httpx.WriteError(w, http.StatusServiceUnavailable, "statistics unavailable: Redis did not answer")
			return
		}
		httpx.WriteJSON(w, http.StatusOK, snap)
	}
}

// Split serves the split of one ingest.
type Split struct {
	Splitter   *split.Splitter
	Routes     []string // the routes that may get weight (those this ingest can deliver to)
	AdminToken string   // PUT needs it as a bearer token
	// Shared, when set, is the split all instances share (in Redis): a PUT
	// stores the change with a new version in one step before applying it,
	// and is refused (503) when it cannot; every instance converges on the
	// highest version (Shared.Follow).
	Shared *split.Shared
	// Publish, without Shared, announces a new split (to the dashboard);
	// its error is logged, the change stands.
	Publish func(context.Context, map[string]int) error
	Metrics *metrics.Metrics
	Log     *slog.Logger
}

type splitBody struct {
	Weights split.Weights `json:"weights"`
	// Version counts the changes of the split; with a shared split, every
	// instance converges on the highest.
	Version int64 `json:"version,omitempty"`
}

// Register adds GET and PUT /api/split to mux.
func (s *Split) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/split", httpx.Instrument(s.Metrics, "split", http.HandlerFunc(s.get)))
	mux.Handle("PUT /api/split", httpx.Instrument(s.Metrics, "split", httpx.RequireAdmin(s.AdminToken, s.Log, s.put)))
}

func (s *Split) get(w http.ResponseWriter, r *http.Request) {
	weights, v := s.Splitter.Current()
	httpx.WriteJSON(w, http.StatusOK, splitBody{Weights: weights, Version: v})
}

func (s *Split) put(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
	if err != nil {
		httpx.WriteError(w, http.StatusRequestEntityTooLarge, "split body too large")
		return
	}
	weights, err := split.ParseJSON(body, s.Routes)
	if err != nil {
		httpx.WriteError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	old := s.Splitter.Weights()
	var version int64
	if s.Shared != nil {
		// One step: the weights and their version are stored together, and
		// this instance applies the version unless a newer one is here.
		version, err = s.Shared.Publish(r.Context(), weights, route.All)
		if err != nil {
			s.Log.Error("publish split", "err", err)
			httpx.RetryAfter(w, time.Second)
			httpx.WriteError(w, http.StatusServiceUnavailable, "split not changed: the shared configuration (Redis) did not answer")
			return
		}
		s.Splitter.SetVersion(weights, version)
	} else {
		s.Splitter.Set(weights)
		_, version = s.Splitter.Current()
		if s.Publish != nil {
			if err := s.Publish(r.Context(), weights); err != nil {
				s.Log.Warn("publish split", "err", err)
			}
		}
	}
	s.Log.Info("split changed", "from", old.String(), "to", weights.String(), "version", version, "remote", r.RemoteAddr, "user_agent", r.UserAgent())
	httpx.WriteJSON(w, http.StatusOK, splitBody{Weights: weights, Version: version})
}
