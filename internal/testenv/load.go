package testenv

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// OneRecord is a valid record, as the seed's Locust file sends it.
var OneRecord = []byte(`{"name":"Duglas Francisco Avila Torres","location":"Chimaltenango","age":19,"vaccine_type":"Sputnik V","n_dose":1}`)

// Load posts OneRecord (as the producer of ProducerKey) to base+"/" every `every` until the returned stop
// is called (or the test ends); stop returns how many were accepted (202)
// and refused.
func Load(t testing.TB, base string, every time.Duration) (stop func() (ok, refused int64)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var okN, bad atomic.Int64
	client := &http.Client{Timeout: 10 * time.Second}
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/", bytes.NewReader(OneRecord))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(Authorize(req))
			if err != nil {
				if ctx.Err() == nil {
					bad.Add(1)
				}
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				okN.Add(1)
			} else {
				bad.Add(1)
			}
		}
	})
	var once sync.Once
	stop = func() (int64, int64) {
		once.Do(func() { cancel(); wg.Wait() })
		return okN.Load(), bad.Load()
	}
	t.Cleanup(func() { stop() })
	return stop
}
