package backoff

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestDoublesToMaxAndResets(t *testing.T) {
	b := New(50*time.Millisecond, 300*time.Millisecond)
	var got []time.Duration
	for range 5 {
		got = append(got, b.Next())
	}
	want := []time.Duration{50, 100, 200, 300, 300}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pauses %v, want %v", got, want)
	}
	b.Reset()
	if d := b.Next(); d != 50*time.Millisecond {
		t.Fatalf("after Reset: %v, want the minimum", d)
	}
}

func TestJitterStaysWithinTwentyPercent(t *testing.T) {
	b := &Backoff{Min: time.Second, Max: time.Second, Jitter: true}
	for range 100 {
		if d := b.Next(); d < 800*time.Millisecond || d > 1200*time.Millisecond {
			t.Fatalf("pause %v outside 0.8s..1.2s", d)
		}
	}
}

func TestWaitEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if New(time.Hour, time.Hour).Wait(ctx) {
		t.Fatal("Wait reported a full pause on an ended context")
	}
}
