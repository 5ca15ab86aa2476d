package check

import "testing"

func TestParseImageRef(t *testing.T) {
	cases := []struct {
		ref    string
		ok     bool
		domain string
		path   string
	}{
		{"redis:7.4.1-alpine", true, "", "redis"},
		{"locustio/locust:2.32.4", true, "", "locustio/locust"},
		{"gcr.io/distroless/static-debian12:nonroot", true, "gcr.io", "distroless/static-debian12"},
		{"us-central1-docker.pkg.dev/p/r/app:v1", true, "us-central1-docker.pkg.dev", "p/r/app"},
		{"localhost:5000/app:dev", true, "localhost:5000", "app"},
		{"example.org/app@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true, "example.org", "app"},
		{"redis", false, "", ""},
		{"redis:latest", false, "", ""},
		{"example.org/App:v1", false, "", ""},
		{"example.org/app:", false, "", ""},
		{"example.org/app:v1 ", false, "", ""},
		{"${_IMAGE}:v1", false, "", ""},
		{"", false, "", ""},
	}
	for _, c := range cases {
		r, err := ParseImageRef(c.ref)
		if (err == nil) != c.ok {
			t.Errorf("ParseImageRef(%q): err %v, want ok=%v", c.ref, err, c.ok)
			continue
		}
		if c.ok && (r.Domain != c.domain || r.Path != c.path) {
			t.Errorf("ParseImageRef(%q) = %+v, want domain %q path %q", c.ref, r, c.domain, c.path)
		}
	}
}
