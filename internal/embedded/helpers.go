package embedded

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vacunometro/vacunometro/internal/backoff"
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
	pause := backoff.New(20*time.Millisecond, 20*time.Millisecond)
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || !pause.Wait(ctx) {
			return fmt.Errorf("redis at %s did not answer: %w", opts.Addr, err)
		}
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

// MakePrivate makes dir and everything under it private to the user: no
// permission for group or others (directories 0700 or less, files 0600 or
// less). Data directories made by older versions (0750, files 0644) are
// fixed in place.
func MakePrivate(dir string) error {
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&os.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if m := fi.Mode().Perm(); m&0o077 != 0 {
			if err := os.Chmod(path, m&^0o077); err != nil {
				return fmt.Errorf("make %s private: %w", path, err)
			}
		}
		return nil
	})
}
