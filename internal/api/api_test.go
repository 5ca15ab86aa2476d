package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vacunometro/vacunometro/internal/metrics"
	"github.com/vacunometro/vacunometro/internal/split"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestSplitAdmin(t *testing.T) {
	s := split.New(split.Weights{"grpc": 1, "redis": 0})
	var published []map[string]int
	mux := http.NewServeMux()
	(&Split{
		Splitter: s, Routes: []string{"grpc", "redis"}, AdminToken: "tok",
		Publish: func(_ context.Context, w map[string]int) error { published = append(published, w); return nil },
		Metrics: metrics.New(), Log: discard(),
	}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	put := func(auth, body string) int {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/api/split", strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct {
		auth, body string
		code       int
	}{
		{"", `{"weights":{"redis":1}}`, 401},
		{"Bearer nope", `{"weights":{"redis":1}}`, 401},
		{"Basic dG9rOg==", `{"weights":{"redis":1}}`, 401},
		{"Bearer tok", `{"weights":{"pubsub":1}}`, 422}, // not configured here
		{"Bearer tok", `{"weights":{"grpc":0,"redis":0}}`, 422},
		{"Bearer tok", `not json`, 422},
		{"Bearer tok", `{"weights":{"grpc":0,"redis":5}}`, 200},
	} {
		if code := put(tt.auth, tt.body); code != tt.code {
			t.Errorf("PUT %q with %q: %d, want %d", tt.body, tt.auth, code, tt.code)
		}
	}
	if got := s.NextN(1); got != "redis" {
		t.Fatalf("after the change the splitter picks %q, want redis", got)
	}
	if len(published) != 1 || published[0]["redis"] != 5 {
		t.Fatalf("published %v, want one split with redis=5", published)
	}
	getResp, err := http.Get(srv.URL + "/api/split")
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Weights map[string]int }
	_ = json.NewDecoder(getResp.Body).Decode(&body)
	getResp.Body.Close()
	if body.Weights["redis"] != 5 || body.Weights["grpc"] != 0 {
		t.Fatalf("GET /api/split = %v", body.Weights)
	}
}

type snapFunc func(context.Context) (map[string]int, error)

func (f snapFunc) Snapshot(ctx context.Context) (map[string]int, error) { return f(ctx) }

func TestStats(t *testing.T) {
	for _, tt := range []struct {
		name string
		snap snapFunc
		code int
		want string
	}{
		{"answers the snapshot", func(context.Context) (map[string]int, error) { return map[string]int{"total": 3}, nil }, 200, `"total":3`},
		{"redis down is 503", func(context.Context) (map[string]int, error) { return nil, errors.New("down") }, 503, "Redis did not answer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Stats[map[string]int](tt.snap, discard())(rec, httptest.NewRequest(http.MethodGet, "/api/stats", nil))
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.want) {
				t.Fatalf("%d %s, want %d with %s", rec.Code, rec.Body.String(), tt.code, tt.want)
			}
		})
	}
}
