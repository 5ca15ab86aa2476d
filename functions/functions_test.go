package functions_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vacunometro/vacunometro/functions"
	"github.com/vacunometro/vacunometro/internal/app"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

func TestIngestFunctionAcceptsARecordIntoTheRedisStream(t *testing.T) {
	rs := testenv.StartRedis(t, true)
	t.Setenv("REDIS_URL", rs.URL)
	t.Setenv("SPLIT", "redis=100")
	t.Setenv("PUBSUB_PROJECT", "")
	testenv.PublishKeys(t, rs.URL)
	h := functions.NewLazy(app.BuildIngest)
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(
		`{"name":"Duglas Francisco Avila Torres","location":"Chimaltenango","age":19,"vaccine_type":"Sputnik V","n_dose":1}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(testenv.Authorize(req))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST / = %d, want 202", resp.StatusCode)
	}
	n, err := rs.Client(t).XLen(t.Context(), "vacunometro:records").Result()
	if err != nil || n != 1 {
		t.Fatalf("stream holds %d entries (%v), want 1", n, err)
	}
	resp, _ = http.Get(srv.URL + "/readyz")
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz = %d", resp.StatusCode)
	}
}

func TestRealtimeFunctionServesStatsAndRetriesAStartFailure(t *testing.T) {
	rs := testenv.StartRedis(t, false)
	t.Setenv("REDIS_URL", "redis://127.0.0.1:1") // nothing there
	t.Setenv("WEB_DIR", t.TempDir())
	h := functions.NewLazy(app.BuildRealtime)
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("with Redis unreachable /api/stats = %d, want 503", resp.StatusCode)
	}
	t.Setenv("REDIS_URL", rs.URL)
	resp, err = http.Get(srv.URL + "/api/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("once Redis answers /api/stats = %d, want 200", resp.StatusCode)
	}
}
