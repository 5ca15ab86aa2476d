package httpx

import (
	"net/http"

	"go.opentelemetry.io/otel/propagation"
)

// ContinueTrace puts the caller's W3C trace context (the traceparent and tracestate headers) into
// the request's context, so that the spans the handlers start are children of the caller's span,
// and the log lines of the request carry its trace id. On Cloud Run the frontend sends traceparent
// on every request, so the request log, the app's logs and its spans share one trace.
func ContinueTrace(h http.Handler) http.Handler {
	p := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("traceparent") != "" {
			r = r.WithContext(p.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		}
		h.ServeHTTP(w, r)
	})
}
