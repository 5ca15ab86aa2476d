package embedded

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// WaitRedis pings url until it answers or timeout passes.
func WaitRedis(ctx context.Context, url string, timeout time.Duration) error {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("redis url: %w", err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("redis at %s did not answer: %w", opts.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
