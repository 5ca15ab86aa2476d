package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// frame is one WebSocket snapshot as the bench sees it.
type frame struct {
	at     time.Time
	total  int64
	latest []string
}

// wsWatcher reads snapshots from /ws.
type wsWatcher struct {
	conn   *websocket.Conn
	mu     sync.Mutex
	frames []frame
	err    error
	done   chan struct{}
}

func watchWS(ctx context.Context, baseURL string) (*wsWatcher, error) {
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/ws"
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.DialContext(ctx, u, http.Header{})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket %s: %w (status %d)", u, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("websocket %s: %w", u, err)
	}
	w := &wsWatcher{conn: conn, done: make(chan struct{})}
	go w.read()
	return w, nil
}

func (w *wsWatcher) read() {
	defer close(w.done)
	for {
		_, msg, err := w.conn.ReadMessage()
		at := time.Now()
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		var s struct {
			Total  int64 `json:"total"`
			Latest []struct {
				ID string `json:"id"`
			} `json:"latest"`
		}
		if err := json.Unmarshal(msg, &s); err != nil {
			continue
		}
		f := frame{at: at, total: s.Total}
		for _, l := range s.Latest {
			f.latest = append(f.latest, l.ID)
		}
		w.mu.Lock()
		w.frames = append(w.frames, f)
		w.mu.Unlock()
	}
}

// lastTotal returns the total of the newest frame (-1 before the first).
func (w *wsWatcher) lastTotal() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.frames) == 0 {
		return -1
	}
	return w.frames[len(w.frames)-1].total
}

// waitTotal waits until a frame shows at least total.
func (w *wsWatcher) waitTotal(ctx context.Context, total int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for w.lastTotal() < total {
		if time.Now().After(deadline) {
			return fmt.Errorf("websocket total %d after %s, want %d", w.lastTotal(), timeout, total)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func (w *wsWatcher) close() []frame {
	_ = w.conn.Close()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.frames
}

// acks records, in the order the 202s arrived, when each came and how many
// records had been accepted by then.
type acks struct {
	mu  sync.Mutex
	at  []time.Time
	cum []int64
	ids map[string]time.Time
	n   int64
}

func newAcks() *acks { return &acks{ids: map[string]time.Time{}} }

func (a *acks) add(ids []string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n += int64(len(ids))
	a.at = append(a.at, at)
	a.cum = append(a.cum, a.n)
	for _, id := range ids {
		a.ids[id] = at
	}
}

// freshness is the lag from a 202 to the snapshot that shows the record.
type freshness struct {
	ByTotal  []time.Duration // per 202: until a frame's total covers all records accepted so far
	ByLatest []time.Duration // per record seen by id in a frame's "latest"
	Missing  int             // 202s never covered by a frame
}

// measureFreshness matches 202s to frames. By total: the record accepted
// k-th counts as shown when a frame received after its 202 has total >=
// base+k (conservative when records are counted in another order than
// acknowledged). By id: the first frame whose latest holds the id.
func measureFreshness(a *acks, frames []frame, base int64) freshness {
	var f freshness
	j := 0
	for i := range a.at {
		for j < len(frames) && (frames[j].at.Before(a.at[i]) || frames[j].total-base < a.cum[i]) {
			j++
		}
		if j == len(frames) {
			f.Missing = len(a.at) - i
			break
		}
		f.ByTotal = append(f.ByTotal, frames[j].at.Sub(a.at[i]))
	}
	seen := map[string]bool{}
	for _, fr := range frames {
		for _, id := range fr.latest {
			if t, ok := a.ids[id]; ok && !seen[id] {
				seen[id] = true
				lag := fr.at.Sub(t)
				if lag < 0 {
					lag = 0 // shown before its 202 arrived (the gRPC route stores first)
				}
				f.ByLatest = append(f.ByLatest, lag)
			}
		}
	}
	sort.Slice(f.ByTotal, func(i, j int) bool { return f.ByTotal[i] < f.ByTotal[j] })
	sort.Slice(f.ByLatest, func(i, j int) bool { return f.ByLatest[i] < f.ByLatest[j] })
	return f
}
