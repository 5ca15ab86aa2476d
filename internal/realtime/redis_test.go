package realtime

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/testenv"
)

const snapKey = "test:snapshot"

// redisHub starts a Hub whose Source reads snapKey and which listens for the
// change notice, each with its own Redis client (as separate instances would).
func redisHub(t *testing.T, rs *testenv.RedisServer) (*Hub, string) {
	t.Helper()
	rc := rs.Client(t)
	return startHub(t, Config{
		Source:          redisSource(rc, snapKey),
		Redis:           rc,
		RefreshInterval: time.Hour, // only notices and reconnects push
	})
}

func waitSubscribed(t *testing.T, hubs ...*Hub) {
	t.Helper()
	eventually(t, "the hubs to subscribe", func() bool {
		for _, h := range hubs {
			if !h.subscribedOK.Load() {
				return false
			}
		}
		return true
	})
}

// Two realtime instances on the same Redis both push a change published once.
func TestTwoHubsSeeTheSameChange(t *testing.T) {
	rs := testenv.StartRedis(t, false)
	pub := rs.Client(t)
	publish(t, pub, snapKey, 1)

	h1, url1 := redisHub(t, rs)
	h2, url2 := redisHub(t, rs)
	c1, c2 := readAll(t, url1, 0), readAll(t, url2, 0)
	for _, c := range []*wsClient{c1, c2} {
		if s := c.next(t); s != 1 {
			t.Fatalf("first frame seq %d, want 1", s)
		}
	}
	waitSubscribed(t, h1, h2)

	for seq := 2; seq <= 4; seq++ {
		publish(t, pub, snapKey, seq)
		for i, c := range []*wsClient{c1, c2} {
			if s := c.next(t); s != seq {
				t.Fatalf("instance %d pushed seq %d, want %d", i+1, s, seq)
			}
		}
	}
}

// A Redis restart (killed, then started again on the same port) is survived:
// the hub re-subscribes, pushes a fresh snapshot, and notices flow again.
func TestRedisRestartIsSurvived(t *testing.T) {
	rs := testenv.StartRedis(t, false)
	pub := rs.Client(t)
	publish(t, pub, snapKey, 1)
	h, url := redisHub(t, rs)
	c := readAll(t, url, 0)
	if s := c.next(t); s != 1 {
		t.Fatalf("first frame seq %d, want 1", s)
	}
	waitSubscribed(t, h)

	rs.Kill()
	eventually(t, "the hub to notice the lost subscription", func() bool { return !h.subscribedOK.Load() })
	rs.Start() // empty: --save "" keeps nothing

	// Written while the hub may still be reconnecting: it arrives either by
	// the notice or by the fresh push after re-subscribing.
	publish(t, pub, snapKey, 2)
	if s := c.next(t); s != 2 {
		t.Fatalf("after the restart: seq %d, want 2", s)
	}
	waitSubscribed(t, h)
	publish(t, pub, snapKey, 3)
	if s := c.next(t); s != 3 {
		t.Fatalf("notice after the restart: seq %d, want 3", s)
	}
	if h.Clients() != 1 {
		t.Errorf("Clients() = %d, want the client to stay connected through the restart", h.Clients())
	}
}

// In-process Redis (miniredis, as `vacunometro up` may use): notices arrive,
// and the quiet-channel PING keeps the one subscription alive.
func TestMiniredisNoticesAndHealthPing(t *testing.T) {
	mr := miniredis.RunT(t)
	rc := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	pub := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = pub.Close() })
	publish(t, pub, snapKey, 1)

	h, err := New(Config{Source: redisSource(rc, snapKey), Redis: rc, RefreshInterval: time.Hour, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	h.healthEvery = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	srv := httptest.NewServer(h)
	t.Cleanup(func() { cancel(); <-done; _ = h.Close(); srv.Close() })

	c := readAll(t, "ws"+strings.TrimPrefix(srv.URL, "http"), 0)
	if s := c.next(t); s != 1 {
		t.Fatalf("first frame seq %d, want 1", s)
	}
	waitSubscribed(t, h)
	time.Sleep(200 * time.Millisecond) // several quiet-channel PINGs
	publish(t, pub, snapKey, 2)
	if s := c.next(t); s != 2 {
		t.Fatalf("seq %d, want 2", s)
	}
	if n := h.nSubscribes.Load(); n != 1 {
		t.Errorf("subscribed %d times, want 1 (the health PING must not break the subscription)", n)
	}
}
