package httpx

import (
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

// ErrBudget is the BodyError of a body that does not fit the budget now.
var errBudget = &BodyError{Code: http.StatusServiceUnavailable, Msg: "too many request bodies in flight: retry shortly"}

// ReadBody reads r's body, at most max bytes after decoding: a body sent
// with Content-Encoding gzip is decompressed, and the decompressed size is
// capped at max like a plain one (a small bomb cannot inflate past it);
// any other encoding is refused with 415. The raw body is capped at max
// too. With a budget, the memory the body takes is reserved from it as it
// grows, and the read fails with 503 when the budget has no room: call
// release when the body (and what was decoded from it) is no longer held;
// it is never nil. A *BodyError says what to answer.
func ReadBody(w http.ResponseWriter, r *http.Request, max int64, budget *BodyBudget) (body []byte, release func(), err error) {
	var reserved int64
	release = func() {
		if budget != nil && reserved > 0 {
			budget.Release(reserved)
			reserved = 0
		}
	}
	grow := func(to int64) bool {
		if budget == nil || to <= reserved {
			return true
		}
		if !budget.Reserve(to - reserved) {
			return false
		}
		reserved = to
		return true
	}
	raw := http.MaxBytesReader(w, r.Body, max)
	var src io.Reader = raw
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return nil, release, bodyReadError(err, max, "the gzip body is corrupt: ")
		}
		defer zr.Close()
		src, gz = zr, true
	default:
		return nil, release, &BodyError{Code: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf("unsupported Content-Encoding %q: send the body plain or gzip", enc)}
	}
	size := int64(64 << 10)
	if !gz && r.ContentLength >= 0 && r.ContentLength <= max {
		size = r.ContentLength + 1 // +1: to see the end without growing
	}
	size = min(size, max+1)
	if !grow(size) {
		return nil, release, errBudget
	}
	buf := make([]byte, 0, size)
	lim := io.LimitReader(src, max+1)
	for {
		if len(buf) == cap(buf) {
			next := min(int64(cap(buf))*2, max+1)
			if !grow(int64(cap(buf)) + next) { // the old buffer lives until copied
				release()
				return nil, release, errBudget
			}
			nb := make([]byte, len(buf), next)
			copy(nb, buf)
			buf = nb
			if budget != nil {
				budget.Release(reserved - next)
				reserved = next
			}
		}
		n, err := lim.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			release()
			prefix := "could not read the body: "
			if gz {
				prefix = "the gzip body is corrupt: "
			}
			return nil, release, bodyReadError(err, max, prefix)
		}
		if int64(len(buf)) > max {
			release()
			return nil, release, &BodyError{Code: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("body larger than %d bytes once decompressed: send smaller batches", max)}
		}
	}
	if int64(len(buf)) > max {
		release()
		return nil, release, &BodyError{Code: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("body larger than %d bytes once decompressed: send smaller batches", max)}
	}
	return buf, release, nil
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
