package store

import (
	"fmt"
	"net/url"
)

// parseHost returns "mongodb://host/..." without user information, for logs.
func parseHost(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("parse uri: %w", err)
	}
	u.User = nil
	u.RawQuery = ""
	return u.String(), nil
}

// Redact returns uri without credentials or options, safe to log.
func Redact(uri string) string { return redact(uri) }
