package httpx

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestServersContinueTheCallersTrace(t *testing.T) {
	got := make(chan trace.SpanContext, 2)
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- trace.SpanContextFromContext(r.Context())
	}), slog.New(slog.NewTextHandler(io.Discard, nil)), ServerOptions{})
	ts := httptest.NewServer(srv.Handler)
	defer ts.Close()

	req, _ := http.NewRequest("GET", ts.URL, nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := <-got
	if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.SpanID().String() != "00f067aa0ba902b7" || !sc.IsSampled() || !sc.IsRemote() {
		t.Errorf("handler saw %v, want the caller's trace", sc)
	}

	resp, err = http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sc := <-got; sc.IsValid() {
		t.Errorf("a request without traceparent got a trace: %v", sc)
	}
}
