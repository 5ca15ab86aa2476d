// Package tracing provides OpenTelemetry traces from the ingest through the
// route to the sink: one trace per request, a span per stage. Off by
// default; on when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, exported by OTLP over HTTP.
//
// Records travel in group-committed batches that mix requests, so a
// consumer's span continues the trace of the batch's first record and links
// to the others' (W3C traceparent carried in each record).
package tracing

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/vacunometro/vacunometro/internal/record"
)

// Name of the instrumentation scope.
const Name = "github.com/vacunometro/vacunometro"

// MaxLinks bounds the links of one consumer span.
const MaxLinks = 64

// Setup returns the tracer of a process and a shutdown function that
// flushes spans. With no OTLP endpoint configured it returns a no-op tracer.
func Setup(ctx context.Context, service string, env func(string) string) (trace.Tracer, func(context.Context) error, error) {
	if env("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return noop.NewTracerProvider().Tracer(Name), func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx) // reads the standard OTEL_EXPORTER_OTLP_* variables
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(2*time.Second)),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))),
	)
	return tp.Tracer(Name), tp.Shutdown, nil
}

// Noop is a tracer that records nothing.
func Noop() trace.Tracer { return noop.NewTracerProvider().Tracer(Name) }

// OrNoop returns t, or a no-op tracer when t is nil.
func OrNoop(t trace.Tracer) trace.Tracer {
	if t == nil {
		return Noop()
	}
	return t
}

var propagator = propagation.TraceContext{}

// Traceparent returns the W3C traceparent of ctx's span ("" when not sampled).
func Traceparent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

func spanContext(traceparent string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
	ctx := propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	return trace.SpanContextFromContext(ctx)
}

// StartConsumer starts a consumer-side span for recs: a child of the first
// record's trace, linked to the other records' traces.
func StartConsumer(ctx context.Context, t trace.Tracer, name string, recs []record.Record, attrs ...trace.SpanStartOption) (context.Context, trace.Span) {
	var links []trace.Link
	seen := map[trace.TraceID]bool{}
	var parent trace.SpanContext
	for _, r := range recs {
		sc := spanContext(r.Trace)
		if !sc.IsValid() || seen[sc.TraceID()] {
			continue
		}
		seen[sc.TraceID()] = true
		if !parent.IsValid() {
			parent = sc
			continue
		}
		if len(links) < MaxLinks {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	opts := append([]trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...)}, attrs...)
	return t.Start(ctx, name, opts...)
}
