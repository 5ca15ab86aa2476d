package embedded

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// filesHolding lists the files under dir that contain needle.
func filesHolding(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// notPrivate lists what under dir group or others may read or enter.
func notPrivate(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if fi, err := d.Info(); err == nil && fi.Mode().Perm()&0o077 != 0 {
			out = append(out, path+" "+fi.Mode().Perm().String())
		}
		return nil
	})
	return out
}

// Issue 16, defect 2: a stream entry (full names) stayed in redis-server's
// append-only files, mode 0644, after it was handed over and deleted.
func TestRedisFilesArePrivateAndForgetHandedOverEntries(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not on PATH")
	}
	dir := filepath.Join(t.TempDir(), "redis")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	r, err := StartRedisWith(ctx, dir, log, RedisOptions{CompactEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	opts, _ := redis.ParseURL(r.URL)
	c := redis.NewClient(opts)
	defer c.Close()
	gone, kept := []byte("Zacarias Quetzalprivado Handedover"), []byte("Yolanda Pendingperson Stillhere")
	id, err := c.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []any{"r", gone}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []any{"r", kept}}).Err(); err != nil {
		t.Fatal(err)
	}
	if len(filesHolding(t, dir, gone)) == 0 {
		t.Fatal("the entry is not in the append-only files: the check looks in the wrong place")
	}
	if err := c.XDel(ctx, "s", id).Err(); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if len(filesHolding(t, dir, gone)) == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the deleted entry is still in %v after 15 s", filesHolding(t, dir, gone))
		}
	}
	if len(filesHolding(t, dir, kept)) == 0 {
		t.Fatal("the pending entry was lost by the rewrite")
	}
	if bad := notPrivate(t, dir); len(bad) > 0 {
		t.Fatalf("not private to the user: %v", bad)
	}
	// The last rewrite on Stop: written and deleted just before it.
	id, _ = c.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []any{"r", "Xiomara Laststop Person"}}).Result()
	c.XDel(ctx, "s", id)
	r.Stop()
	if f := filesHolding(t, dir, []byte("Xiomara Laststop Person")); len(f) > 0 {
		t.Fatalf("after Stop the deleted entry is in %v", f)
	}
	// Restarted on the same files, the pending entry is there.
	r2, err := StartRedisWith(ctx, dir, log, RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Stop()
	opts, _ = redis.ParseURL(r2.URL)
	c2 := redis.NewClient(opts)
	defer c2.Close()
	if n := c2.XLen(ctx, "s").Val(); n != 1 {
		t.Fatalf("after a restart the stream holds %d entries, want 1", n)
	}
}

func TestMakePrivateFixesAnOldDataDirectory(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "mongo")
	if err := os.Mkdir(sub, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "db.sqlite"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := MakePrivate(dir); err != nil {
		t.Fatal(err)
	}
	if bad := notPrivate(t, dir); len(bad) > 0 {
		t.Fatalf("still readable by others: %v", bad)
	}
}
