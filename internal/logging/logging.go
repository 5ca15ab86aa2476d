// Package logging builds the JSON log handler the deployed processes use: one JSON object per line
// with the keys Cloud Logging reads from a container's output (severity, message, time, and the
// trace of the request in logging.googleapis.com/trace and spanId), so that the log explorer shows
// each line's level and groups the lines of one request under its trace:
// https://cloud.google.com/logging/docs/structured-logging#special-payload-fields
package logging

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Cloud Logging's special JSON fields.
const (
	KeySeverity     = "severity"
	KeyMessage      = "message"
	KeyTrace        = "logging.googleapis.com/trace"
	KeySpanID       = "logging.googleapis.com/spanId"
	KeyTraceSampled = "logging.googleapis.com/trace_sampled"
)

// Severity is Cloud Logging's LogSeverity for a slog level.
func Severity(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	case l < slog.LevelError+4:
		return "ERROR"
	default:
		return "CRITICAL"
	}
}

// NewJSONHandler returns a slog JSON handler writing severity and message (not slog's level and
// msg), and, when the record's context carries a span, its trace and span ids. project, when set,
// makes the trace field the full resource name Cloud Logging links to Cloud Trace
// (projects/PROJECT/traces/TRACE_ID); opts.ReplaceAttr, if any, runs after the renaming.
func NewJSONHandler(w io.Writer, opts *slog.HandlerOptions, project string) slog.Handler {
	o := slog.HandlerOptions{}
	if opts != nil {
		o = *opts
	}
	user := o.ReplaceAttr
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 {
			switch a.Key {
			case slog.LevelKey:
				if l, ok := a.Value.Any().(slog.Level); ok {
					a = slog.String(KeySeverity, Severity(l))
				}
			case slog.MessageKey:
				a.Key = KeyMessage
			}
		}
		if user != nil {
			return user(groups, a)
		}
		return a
	}
	return &traceHandler{Handler: slog.NewJSONHandler(w, &o), project: project}
}

type traceHandler struct {
	slog.Handler
	project string
}

func (h *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		id := sc.TraceID().String()
		if h.project != "" {
			id = "projects/" + h.project + "/traces/" + id
		}
		r.AddAttrs(slog.String(KeyTrace, id), slog.String(KeySpanID, sc.SpanID().String()), slog.Bool(KeyTraceSampled, sc.IsSampled()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &traceHandler{Handler: h.Handler.WithAttrs(as), project: h.project}
}

func (h *traceHandler) WithGroup(name string) slog.Handler {
	return &traceHandler{Handler: h.Handler.WithGroup(name), project: h.project}
}
