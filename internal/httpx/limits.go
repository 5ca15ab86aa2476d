package httpx

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LogLimiter lets one log line through per interval and counts the rest.
// Safe for concurrent use.
type LogLimiter struct {
	mu       sync.Mutex
	interval time.Duration
	last     time.Time
	count    int
	now      func() time.Time
}

// NewLogLimiter returns a limiter that allows one line per interval.
func NewLogLimiter(interval time.Duration) *LogLimiter {
	return &LogLimiter{interval: interval, now: time.Now}
}

// Allow counts an event and reports whether to log it now, with how many
// events (this one included) happened since the last line logged.
func (l *LogLimiter) Allow() (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count++
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		return 0, false
	}
	n := l.count
	l.last, l.count = now, 0
	return n, true
}

// BodyBudget bounds the bytes that request bodies in flight may hold,
// across all requests of a server: a request reserves what its body may
// take before reading it, and is refused when the budget has no room.
type BodyBudget struct {
	mu    sync.Mutex
	limit int64
	used  int64
}

// NewBodyBudget returns a budget of limit bytes.
func NewBodyBudget(limit int64) *BodyBudget { return &BodyBudget{limit: limit} }

// Reserve takes n bytes from the budget; it returns false, taking nothing,
// when they do not fit. Call Release(n) when the body is no longer held.
func (b *BodyBudget) Reserve(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

// Release returns n bytes to the budget.
func (b *BodyBudget) Release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// InUse is the number of bytes reserved now.
func (b *BodyBudget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// BodyError is a body that could not be read, with the status to answer.
type BodyError struct {
	Code int
	Msg  string
}

func (e *BodyError) Error() string { return e.Msg }

// ReadBody reads r's body, at most max bytes after decoding: a body sent
// with Content-Encoding gzip is decompressed, and the decompressed size is
// capped at max like a plain one (a small bomb cannot inflate past it);
// any other encoding is refused with 415. The raw body is capped at max
// too. A *BodyError says what to answer.
func ReadBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	raw := http.MaxBytesReader(w, r.Body, max)
	var src io.Reader = raw
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return nil, bodyReadError(err, max, "the gzip body is corrupt: ")
		}
		defer zr.Close()
		src = zr
	default:
		return nil, &BodyError{Code: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf("unsupported Content-Encoding %q: send the body plain or gzip", enc)}
	}
	capacity := max
	if r.ContentLength > 0 && r.ContentLength < max && src == io.Reader(raw) {
		capacity = r.ContentLength
	}
	buf := bytes.NewBuffer(make([]byte, 0, capacity+1))
	n, err := buf.ReadFrom(io.LimitReader(src, max+1))
	if err != nil {
		if src != io.Reader(raw) {
			return nil, bodyReadError(err, max, "the gzip body is corrupt: ")
		}
		return nil, bodyReadError(err, max, "could not read the body: ")
	}
	if n > max {
		return nil, &BodyError{Code: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("body larger than %d bytes once decompressed: send smaller batches", max)}
	}
	return buf.Bytes(), nil
}

func bodyReadError(err error, max int64, prefix string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &BodyError{Code: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("body larger than %d bytes: send smaller batches", max)}
	}
	return &BodyError{Code: http.StatusBadRequest, Msg: prefix + err.Error()}
}

// RetryAfter sets the Retry-After header in whole seconds.
func RetryAfter(w http.ResponseWriter, d time.Duration) {
	s := int(d / time.Second)
	if s < 1 {
		s = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(s))
}
