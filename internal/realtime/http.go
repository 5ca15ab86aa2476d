package realtime

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// ServeHTTP upgrades GET /ws to a WebSocket and serves the client until it
// leaves, is dropped or the Hub closes.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeJSONError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if !h.originAllowed(r) {
		h.reject("origin")
		writeJSONError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	if h.isClosed() {
		h.reject("closing")
		writeJSONError(w, http.StatusServiceUnavailable, "server shutting down")
		return
	}
	if n := h.conns.Add(1); n > int64(h.cfg.MaxConns) {
		h.conns.Add(-1)
		h.reject("capacity")
		w.Header().Set("Retry-After", "5")
		writeJSONError(w, http.StatusServiceUnavailable, "too many connections")
		return
	}
	defer h.conns.Add(-1)

	if _, err := h.fetch(r.Context(), true); err != nil {
		h.reject("no_snapshot")
		h.log.Warn("realtime: no snapshot for a new client", "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, "snapshot unavailable")
		return
	}

	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.reject("handshake")
		return // the upgrader has answered
	}
	if tcp, ok := conn.NetConn().(*net.TCPConn); ok && h.cfg.SendBuffer > 0 {
		_ = tcp.SetWriteBuffer(h.cfg.SendBuffer)
	}
	c := &client{
		hub:  h,
		conn: conn,
		send: make(chan *frame, h.cfg.SendQueue),
		done: make(chan struct{}),
	}
	if !h.register(c) {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"),
			time.Now().Add(time.Second))
		_ = conn.Close()
		return
	}
	defer h.wg.Done()
	go c.readLoop()
	c.writeLoop()
}

func (h *Hub) reject(reason string) {
	h.m.rejectedBy.WithLabelValues(reason).Inc()
}

func (h *Hub) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || h.anyOrig {
		return true
	}
	if len(h.origins) == 0 {
		u, err := url.Parse(origin)
		return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
	}
	return h.origins[strings.ToLower(strings.TrimRight(origin, "/"))]
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
