package producer

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/api/idtoken"
)

// TokenValidator checks a Google-signed ID token's signature, expiry and
// audience (*idtoken.Validator).
type TokenValidator interface {
	Validate(ctx context.Context, token, audience string) (*idtoken.Payload, error)
}

// googleIssuers are the issuers of Google-signed ID tokens. idtoken does
// not check the issuer itself.
var googleIssuers = map[string]bool{"accounts.google.com": true, "https://accounts.google.com": true}

// KeyChecker is a key table (Keys, Static).
type KeyChecker interface {
	Check(r *http.Request) (Identity, error)
	byName(name string) (*known, bool)
}

// IDTokens accepts, besides producer keys, Google-signed ID tokens of the
// service accounts it knows: a system inside the project (Cloud Run's IAM
// invoker) calls with its identity instead of a key. Each account stands
// for a producer, whose quota and revocation apply as for its key. A
// bearer token that is not a JWT is checked as a producer key.
type IDTokens struct {
	Keys      KeyChecker
	Validator TokenValidator
	Audience  string            // the ingest's URL, the tokens' aud
	Accounts  map[string]string // service account email -> producer name
}

// ParseAccounts reads ID_TOKEN_ACCOUNTS: comma-separated
// "email=producer" pairs.
func ParseAccounts(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		email, name, ok := strings.Cut(pair, "=")
		email, name = strings.TrimSpace(email), strings.TrimSpace(name)
		if !ok || !strings.Contains(email, "@") {
			return nil, fmt.Errorf("ID_TOKEN_ACCOUNTS: %q: want service-account-email=producer", pair)
		}
		if err := ValidName(name); err != nil {
			return nil, fmt.Errorf("ID_TOKEN_ACCOUNTS: %q: %w", pair, err)
		}
		out[strings.ToLower(email)] = name
	}
	return out, nil
}

// isJWT tells a JWT (three base64url parts) from a producer key.
func isJWT(tok string) bool {
	return strings.Count(tok, ".") == 2 && !strings.HasPrefix(tok, KeyPrefix)
}

// Check returns the producer of r's producer key or ID token.
func (a *IDTokens) Check(r *http.Request) (Identity, error) {
	tok := BearerKey(r)
	if !isJWT(tok) {
		return a.Keys.Check(r)
	}
	p, err := a.Validator.Validate(r.Context(), tok, a.Audience)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: ID token: %v", ErrUnknownKey, err)
	}
	if !googleIssuers[p.Issuer] {
		return Identity{}, fmt.Errorf("%w: ID token from issuer %q", ErrUnknownKey, p.Issuer)
	}
	email, _ := p.Claims["email"].(string)
	if verified, _ := p.Claims["email_verified"].(bool); !verified || email == "" {
		return Identity{}, fmt.Errorf("%w: ID token without a verified email", ErrUnknownKey)
	}
	name, ok := a.Accounts[strings.ToLower(email)]
	if !ok {
		return Identity{}, fmt.Errorf("%w: ID token of %s, not an allowed account", ErrUnknownKey, email)
	}
	kn, ok := a.Keys.byName(name)
	switch {
	case !ok:
		// A producer named only here: the default quota, never revoked
		// (take the account out of ID_TOKEN_ACCOUNTS to cut it off).
		return Identity{Name: name}, nil
	case kn.revoked:
		return kn.id, ErrRevoked
	}
	return kn.id, nil
}

func (k *Keys) byName(name string) (*known, bool) {
	t := k.cur.Load()
	if t == nil {
		return nil, false
	}
	kn, ok := t.byName[name]
	return kn, ok
}

func (s *Static) byName(name string) (*known, bool) { return s.k.byName(name) }
