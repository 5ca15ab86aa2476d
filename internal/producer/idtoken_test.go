package producer

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/idtoken"
)

// googleCerts serves a JWKS in place of Google's certificate endpoint:
// the real idtoken.Validator is used, its HTTP client sent here.
type googleCerts struct {
	key *rsa.PrivateKey
	srv *httptest.Server
}

func newGoogleCerts(t *testing.T) *googleCerts {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	g := &googleCerts{key: key}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b64 := base64.RawURLEncoding.EncodeToString
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kid": "test-kid", "kty": "RSA", "alg": "RS256", "use": "sig",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// validator is a real idtoken.Validator whose requests reach g.
func (g *googleCerts) validator(t *testing.T) *idtoken.Validator {
	t.Helper()
	target, _ := url.Parse(g.srv.URL)
	client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host = target.Scheme, target.Host
		return http.DefaultTransport.RoundTrip(r)
	})}
	v, err := idtoken.NewValidator(t.Context(), idtoken.WithHTTPClient(client))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// token signs claims with g's key (or with other, a key Google never had).
func (g *googleCerts) token(t *testing.T, claims map[string]any, other *rsa.PrivateKey) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "test-kid", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	signed := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(signed))
	key := g.key
	if other != nil {
		key = other
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + b64(sig)
}

func TestIDTokensOfAllowedServiceAccounts(t *testing.T) {
	g := newGoogleCerts(t)
	const aud = "https://ingest-abc.a.run.app"
	keys := NewStatic(map[string]Identity{
		"vacp_sitekey": {Name: "site-a", Rate: 50, Burst: 100},
	})
	revoked := NewStatic(map[string]Identity{"vacp_gone": {Name: "old-system"}})
	for _, kn := range revoked.k.cur.Load().byName {
		kn.revoked = true
	}
	auth := func(k KeyChecker) *IDTokens {
		return &IDTokens{Keys: k, Validator: g.validator(t), Audience: aud, Accounts: map[string]string{
			"registro@proj.iam.gserviceaccount.com": "registro-nacional",
			"site@proj.iam.gserviceaccount.com":     "site-a",
			"old@proj.iam.gserviceaccount.com":      "old-system",
		}}
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{"iss": "https://accounts.google.com", "aud": aud, "sub": "1234",
			"email": "registro@proj.iam.gserviceaccount.com", "email_verified": true,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	cases := []struct {
		name    string
		keys    KeyChecker
		bearer  string
		want    string // producer name
		wantErr error
	}{
		{"an allowed account", keys, g.token(t, claims(nil), nil), "registro-nacional", nil},
		{"an account standing for a producer with a key: its quota", keys, g.token(t, claims(func(c map[string]any) { c["email"] = "SITE@proj.iam.gserviceaccount.com" }), nil), "site-a", nil},
		{"a producer key still works", keys, "vacp_sitekey", "site-a", nil},
		{"an account not allowed", keys, g.token(t, claims(func(c map[string]any) { c["email"] = "intruso@evil.iam.gserviceaccount.com" }), nil), "", ErrUnknownKey},
		{"another audience", keys, g.token(t, claims(func(c map[string]any) { c["aud"] = "https://other.a.run.app" }), nil), "", ErrUnknownKey},
		{"expired", keys, g.token(t, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }), nil), "", ErrUnknownKey},
		{"not signed by Google", keys, g.token(t, claims(nil), other), "", ErrUnknownKey},
		{"another issuer", keys, g.token(t, claims(func(c map[string]any) { c["iss"] = "https://evil.example" }), nil), "", ErrUnknownKey},
		{"email not verified", keys, g.token(t, claims(func(c map[string]any) { c["email_verified"] = false }), nil), "", ErrUnknownKey},
		{"a revoked producer's account", revoked, g.token(t, claims(func(c map[string]any) { c["email"] = "old@proj.iam.gserviceaccount.com" }), nil), "old-system", ErrRevoked},
		{"garbage that looks like a JWT", keys, "a.b.c", "", ErrUnknownKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/records", nil)
			r.Header.Set("Authorization", "Bearer "+c.bearer)
			id, err := auth(c.keys).Check(r)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if id.Name != c.want {
				t.Fatalf("producer %q, want %q", id.Name, c.want)
			}
			if c.want == "site-a" && (id.Rate != 50 || id.Burst != 100) {
				t.Fatalf("the account's producer lost its quota: %+v", id)
			}
		})
	}
}

func TestParseAccounts(t *testing.T) {
	got, err := ParseAccounts(" a@p.iam.gserviceaccount.com=site-a , B@p.iam.gserviceaccount.com=registro ")
	if err != nil || got["a@p.iam.gserviceaccount.com"] != "site-a" || got["b@p.iam.gserviceaccount.com"] != "registro" {
		t.Fatalf("%v, %v", got, err)
	}
	for _, bad := range []string{"a@p=", "no-at=site", "a@p=Bad Name", "a@p"} {
		if _, err := ParseAccounts(bad); err == nil || !strings.Contains(err.Error(), "ID_TOKEN_ACCOUNTS") {
			t.Errorf("%q: %v, want an ID_TOKEN_ACCOUNTS error", bad, err)
		}
	}
}
