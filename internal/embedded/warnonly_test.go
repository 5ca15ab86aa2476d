package embedded

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// countingHandler counts the WithAttrs calls that reach it.
type countingHandler struct {
	slog.Handler
	n *int
}

func (c countingHandler) WithAttrs(a []slog.Attr) slog.Handler {
	*c.n++
	return countingHandler{c.Handler.WithAttrs(a), c.n}
}

func TestWarnOnlyFormatsAttributesOnlyForWhatItWrites(t *testing.T) {
	var buf bytes.Buffer
	calls := 0
	log := slog.New(warnOnly{Handler: countingHandler{slog.NewTextHandler(&buf, nil), &calls}})
	stmt := log.With("query", "INSERT ...", "args", strings.Repeat("x", 1000))
	for range 100 {
		stmt.Debug("statement")
		stmt.With("rows", 1).Info("done")
	}
	if calls != 0 || buf.Len() != 0 {
		t.Fatalf("debug and info records: %d WithAttrs reached the handler, %q written", calls, buf.String())
	}
	stmt.WithGroup("g").With("k", "v").Warn("slow", "ms", 5)
	out := buf.String()
	for _, want := range []string{"level=WARN", "msg=slow", "query=\"INSERT ...\"", "g.k=v", "g.ms=5"} {
		if !strings.Contains(out, want) {
			t.Errorf("warning %q lacks %s", out, want)
		}
	}
	buf.Reset()
	log.Warn("Request message: {name: ...}")
	if buf.Len() != 0 {
		t.Fatalf("wire dump written: %q", buf.String())
	}
}
