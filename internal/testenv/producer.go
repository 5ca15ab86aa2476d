package testenv

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"net/http"
	"sync"

	"github.com/vacunometro/vacunometro/internal/producer"
)

// ProducerKey is the key of the producer "local" in the tests: made once
// per test binary, given to the children as LOCAL_PRODUCER_KEY (CleanEnv)
// and sent by Authorize, Load and AuthTransport.
var ProducerKey = sync.OnceValue(func() string {
	k, err := producer.NewKey()
	if err != nil {
		panic(err)
	}
	return k
})

// Authorize adds the test producer's key to req (unless it carries an
// Authorization header already) and returns req.
func Authorize(req *http.Request) *http.Request {
	if req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+ProducerKey())
	}
	return req
}

// Keys is an in-process key table that knows ProducerKey as "local", for
// tests that build an ingest server themselves.
func Keys() *producer.Static {
	return producer.NewStatic(map[string]producer.Identity{ProducerKey(): {Name: "local"}})
}

// AuthTransport adds the test producer's key to every POST sent through
// base (http.DefaultTransport when nil) that carries none: one line in a
// test package's TestMain makes its clients post as "local".
func AuthTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return authTransport{base}
}

type authTransport struct{ base http.RoundTripper }

func (a authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && req.Header.Get("Authorization") == "" {
		req = req.Clone(req.Context())
		Authorize(req)
	}
	return a.base.RoundTrip(req)
}

// PublishKeys writes the key table of the ingest instances into the Redis
// at url with the producer "local" of ProducerKey, for tests that run an
// ingest with no process holding MongoDB (which would publish it).
func PublishKeys(t testing.TB, url string) {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := producer.PublishTable(context.Background(), rdb, []producer.Producer{producer.New("local", ProducerKey())}); err != nil {
		t.Fatal(err)
	}
}
