package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/vacunometro/vacunometro/internal/schema"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

// Personal data: names are masked in everything public. A load goes through
// `up` (every route, valid and invalid records) at the most verbose log
// level, while a WebSocket client records every frame; then no full name
// that was posted appears in /api/stats, in a WebSocket frame, or in the
// process's logs, nor in the Redis files of the data directory once `up`
// stopped (the redis route's stream entries, whole records, must not linger
// in the append-only file after they were handed over), and everything in
// the data directory is private to the user. The masked forms do appear,
// so the check looks at the right places.
func TestNoFullNameInPublicOutput(t *testing.T) {
	data := t.TempDir()
	addr := testenv.FreeAddr(t)
	env := testenv.CleanEnv("ADMIN_TOKEN="+randomToken(), "LOG_LEVEL=debug")
	up := startProc(t, "up", env, addr, "up", "--addr", addr, "--data", data, "--web", t.TempDir())
	ws := "ws" + strings.TrimPrefix(up.URL, "http") + "/ws"
	conn, _, err := websocket.DefaultDialer.Dial(ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var frames [][]byte
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			mu.Lock()
			frames = append(frames, b)
			mu.Unlock()
		}
	}()

	// Valid records through every route, as single records and batches.
	l := newLoad(up.URL, "privacy", 4)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	l.Run(ctx)
	cancel()
	// Invalid records carrying full names: refused, and not logged either.
	c := &http.Client{Timeout: 30 * time.Second}
	var invalid []string
	for i := 0; i < 20; i++ {
		name := fullName(1000 + i)
		invalid = append(invalid, name)
		bad := fmt.Sprintf(`[{"name":%q,"location":"Petén","age":30,"vaccine_type":"Moderna","n_dose":1},{"name":%q,"location":"Narnia","age":300,"vaccine_type":"Sinovac","n_dose":9}]`, fullName(2000+i), name)
		code, _ := status(t, c, "POST", up.URL+"/api/records", "application/json", strings.NewReader(bad), nil)
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("invalid batch: %d, want 422", code)
		}
	}
	accepted := len(l.Accepted())
	if accepted == 0 {
		t.Fatalf("no record was accepted: %s", l.Summary())
	}
	// Wait until everything is counted, and the last frame shows it.
	var stats []byte
	for end := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := c.Get(up.URL + "/api/stats")
		if err != nil {
			t.Fatal(err)
		}
		stats, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		var s struct{ Total int }
		_ = json.Unmarshal(stats, &s)
		mu.Lock()
		last := []byte{}
		if len(frames) > 0 {
			last = frames[len(frames)-1]
		}
		mu.Unlock()
		if s.Total == accepted && bytes.Contains(last, []byte(fmt.Sprintf(`"total":%d`, accepted))) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("not all %d records counted and pushed: /api/stats %.200s", accepted, stats)
		}
	}
	conn.Close()
	<-readDone
	if err := up.Stop(); err != nil {
		t.Logf("stop: %v", err)
	}
	logs := up.Logs(0)

	// Every full name posted (valid and invalid), and the part of each that
	// masking removes (second given name and first surname together).
	var names []string
	for i := 1; i <= int(l.seq.Load()); i++ {
		names = append(names, fullName(i))
	}
	names = append(names, invalid...)
	for i := 0; i < 20; i++ {
		names = append(names, fullName(2000+i))
	}
	places := map[string][]byte{"/api/stats": stats, "the logs": []byte(logs)}
	redisFiles := 0
	err = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v: the data directory must be private to the user", path, fi.Mode().Perm())
		}
		rel, _ := filepath.Rel(data, path)
		if d.IsDir() || !strings.HasPrefix(rel, "redis"+string(filepath.Separator)) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(schema.AggKey)) {
			redisFiles++ // the view is there: these are the files to search
		}
		places["the Redis file "+rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if redisFiles == 0 {
		t.Errorf("no Redis file under %s holds the view: the search would look in the wrong place", data)
	}
	mu.Lock()
	for i, f := range frames {
		places[fmt.Sprintf("WebSocket frame %d", i)] = f
	}
	nFrames := len(frames)
	mu.Unlock()
	leaks := 0
	for _, n := range names {
		parts := strings.Fields(n)
		for _, needle := range []string{n, parts[1] + " " + parts[2]} {
			for where, b := range places {
				if bytes.Contains(b, []byte(needle)) || bytes.Contains(b, []byte(jsonEscaped(needle))) {
					leaks++
					if leaks <= 10 {
						t.Errorf("%q (from %q) appears in %s: %.240s", needle, n, where, lineWith(b, needle))
					}
				}
			}
		}
	}
	// The producer key appears nowhere (logs and Redis files included), and
	// who sent the records (the producer "local") nowhere public.
	for where, b := range places {
		if bytes.Contains(b, []byte(testenv.ProducerKey())) {
			t.Errorf("the producer key appears in %s", where)
		}
		public := where == "/api/stats" || strings.HasPrefix(where, "WebSocket frame")
		if public && (bytes.Contains(b, []byte(`"local"`)) || bytes.Contains(b, []byte(`"producer"`)) || bytes.Contains(b, []byte(`"p":`))) {
			t.Errorf("%s names the producer: %.300s", where, b)
		}
	}
	// The public output does show masked names, so the search looked where
	// names are.
	if !bytes.Contains(stats, []byte(`"name":"`)) || !strings.Contains(string(stats), ". ") {
		t.Errorf("/api/stats shows no masked name: %.300s", stats)
	}
	fmt.Printf("PRIVACY records=%d names_checked=%d frames=%d log_bytes=%d leaks=%d\n", accepted, len(names), nFrames, len(logs), leaks)
}

// jsonEscaped is s as it appears inside a JSON string (non-ASCII escaped
// or not, depending on the encoder).
func jsonEscaped(s string) string {
	b, _ := json.Marshal(s)
	return strings.Trim(string(b), `"`)
}

// lineWith returns the first line of b that contains s.
func lineWith(b []byte, s string) string {
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.Contains(line, []byte(s)) || bytes.Contains(line, []byte(jsonEscaped(s))) {
			return string(line)
		}
	}
	return ""
}
