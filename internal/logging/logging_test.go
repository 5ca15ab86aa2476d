package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestCloudLoggingReadsSeverityMessageAndTrace(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}, "my-project"))
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))

	log.DebugContext(ctx, "d")
	log.Info("started", "addr", ":8080")
	log.With("part", "sink").WarnContext(ctx, "slow", "level", "user attr kept")
	log.WithGroup("g").Error("failed", "msg", "nested msg kept")

	got := lines(t, &buf)
	if len(got) != 4 {
		t.Fatalf("%d lines", len(got))
	}
	for i, want := range []string{"DEBUG", "INFO", "WARNING", "ERROR"} {
		if got[i][KeySeverity] != want {
			t.Errorf("line %d severity = %v, want %s", i, got[i][KeySeverity], want)
		}
		if _, ok := got[i]["msg"]; ok {
			t.Errorf("line %d still has slog's msg key: %v", i, got[i])
		}
	}
	if got[1][KeyMessage] != "started" || got[1]["addr"] != ":8080" {
		t.Errorf("line 1 = %v", got[1])
	}
	if got[0][KeyTrace] != "projects/my-project/traces/4bf92f3577b34da6a3ce929d0e0e4736" || got[0][KeySpanID] != "00f067aa0ba902b7" || got[0][KeyTraceSampled] != true {
		t.Errorf("line 0 trace fields = %v", got[0])
	}
	if got[2][KeyTrace] == nil || got[2]["part"] != "sink" || got[2]["level"] != "user attr kept" {
		t.Errorf("line 2 = %v", got[2])
	}
	if _, ok := got[1][KeyTrace]; ok {
		t.Errorf("a line without a span has a trace: %v", got[1])
	}
	if g, _ := got[3]["g"].(map[string]any); g["msg"] != "nested msg kept" {
		t.Errorf("grouped attribute renamed: %v", got[3])
	}
}

func TestSeverity(t *testing.T) {
	for l, want := range map[slog.Level]string{slog.LevelDebug - 4: "DEBUG", slog.LevelInfo + 1: "INFO", slog.LevelWarn: "WARNING", slog.LevelError: "ERROR", slog.LevelError + 4: "CRITICAL"} {
		if got := Severity(l); got != want {
			t.Errorf("Severity(%v) = %s, want %s", l, got, want)
		}
	}
}
