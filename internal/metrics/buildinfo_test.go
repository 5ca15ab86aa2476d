package metrics

import (
	"io"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

func TestBuildInfoIsExported(t *testing.T) {
	m := New()
	m.RegisterBuildInfo("v1.2.3")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	want := `vacunometro_build_info{goversion="` + runtime.Version() + `",version="v1.2.3"} 1`
	if !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
