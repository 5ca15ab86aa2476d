// Package secretscan finds credentials and addresses that must not be in the
// repository: URIs with passwords, private keys, common token shapes, string
// literals assigned to password-like names, and public IP addresses. Its test
// walks the whole tree; justified exceptions live in allowlist.txt.
package secretscan

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// Finding is one suspicious match.
type Finding struct {
	Path  string // slash-separated, relative to the scanned root
	Line  int
	Rule  string
	Match string // the matched text, with the secret part masked
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", f.Path, f.Line, f.Rule, f.Match)
}

// Rule names.
const (
	RuleURICredentials = "uri-credentials"
	RulePrivateKey     = "private-key"
	RuleAWSKey         = "aws-access-key"
	RuleGitHubToken    = "github-token"
	RuleGoogleKey      = "google-api-key"
	RuleSlackToken     = "slack-token"
	RuleSecretLiteral  = "secret-literal"
	RulePublicIP       = "public-ip"
	RulePrivateIP      = "private-ip"
)

var (
	// A URI whose authority has a user, a colon, a password and an at sign
	// (the user may be empty, as Redis URLs have it).
	reURI = regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]*://([^\s/:@'"<>]*):([^\s/@'"<>]+)@[^\s/'"<>]+`)
	// PEM headers of private keys (RSA, EC, OPENSSH, ENCRYPTED, PKCS8...).
	rePrivateKey = regexp.MustCompile(`-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----`)
	reAWS        = regexp.MustCompile(`\b(AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b`)
	reGitHub     = regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b`)
	reGoogle     = regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}\b`)
	reSlack      = regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}`)
	// A quoted literal assigned to a password-like name, in Go, YAML, JSON,
	// HCL, shell or Python syntax.
	rePassword = regexp.MustCompile(`(?i)\b([a-z0-9_]*(?:password|passwd|passphrase|client_secret|secret_key|api_key|apikey))["']?\s*(?::=|=|:)\s*["']([^"'\s]*)["']`)
	reIPv4     = regexp.MustCompile(`(^|[^0-9.A-Za-z_-])((?:[0-9]{1,3}\.){3}[0-9]{1,3})(/[0-9]{1,2})?([^0-9.]|\.[^0-9]|\.?$)`)
	// A placeholder, not a secret: $VAR, ${VAR}, $(cmd), <password>,
	// {{ .Value }}, %s, ****, xxx, an UPPER_CASE name, or nothing.
	rePlaceholder = regexp.MustCompile(`^(|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\$\(.*\)|<[^>]*>|\{\{.*\}\}|%[sv]|\*+|x+|X+|\.\.\.|[A-Z][A-Z0-9_]*)$`)
)

// codeExt lists the files scanned for addresses (code, manifests, scripts);
// credentials are looked for in every text file.
var codeExt = map[string]bool{
	".go": true, ".ts": true, ".tsx": true, ".js": true, ".mjs": true, ".cjs": true, ".py": true,
	".sh": true, ".bash": true, ".yaml": true, ".yml": true, ".tf": true, ".tfvars": true, ".hcl": true,
	".json": true, ".toml": true, ".proto": true, ".lua": true, ".env": true, ".conf": true, ".ini": true,
	".properties": true, ".html": true, ".css": true, "": true,
}

// isTestOrDoc reports whether a path is a test or a document, where private
// addresses may appear as examples.
func isTestOrDoc(p string) bool {
	base := path.Base(p)
	return strings.HasSuffix(base, "_test.go") || strings.Contains(base, ".test.") || strings.Contains(base, ".spec.") ||
		strings.HasSuffix(base, ".md") || strings.HasSuffix(base, ".txt") || strings.Contains("/"+p, "/testdata/") ||
		strings.Contains("/"+p, "/e2e/") || strings.Contains("/"+p, "/tests/")
}

// ScanContent returns the findings in one file's content; p is its
// slash-separated path relative to the root (it decides which rules apply).
func ScanContent(p string, content []byte) []Finding {
	var out []Finding
	ext := path.Ext(p)
	if path.Base(p) == "Dockerfile" || path.Base(p) == "Makefile" {
		ext = ""
	}
	checkAddr := codeExt[ext]
	testOrDoc := isTestOrDoc(p)
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		add := func(rule, match string) {
			out = append(out, Finding{Path: p, Line: n, Rule: rule, Match: match})
		}
		for _, m := range reURI.FindAllStringSubmatch(line, -1) {
			if !rePlaceholder.MatchString(m[2]) {
				add(RuleURICredentials, strings.Replace(m[0], ":"+m[2]+"@", ":****@", 1))
			}
		}
		if m := rePrivateKey.FindString(line); m != "" {
			add(RulePrivateKey, m)
		}
		for _, r := range []struct {
			re   *regexp.Regexp
			rule string
		}{{reAWS, RuleAWSKey}, {reGitHub, RuleGitHubToken}, {reGoogle, RuleGoogleKey}, {reSlack, RuleSlackToken}} {
			for _, m := range r.re.FindAllString(line, -1) {
				add(r.rule, mask(m))
			}
		}
		for _, m := range rePassword.FindAllStringSubmatch(line, -1) {
			if !rePlaceholder.MatchString(strings.TrimSpace(m[2])) {
				add(RuleSecretLiteral, m[1]+` = "`+mask(m[2])+`"`)
			}
		}
		if checkAddr {
			for _, m := range reIPv4.FindAllStringSubmatch(line, -1) {
				rule, bad := classifyIP(m[2], m[3] != "", testOrDoc)
				if bad {
					add(rule, m[2]+m[3])
				}
			}
		}
	}
	return out
}

// Allowed address ranges: loopback, "any", documentation (RFC 5737),
// link-local (the metadata server), and, in tests and documents or as CIDR
// ranges of a network plan, the private ranges.
var (
	docRanges = []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
	}
	privateRanges = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"),
	}
)

// classifyIP says whether s is an address that must not be in the tree and
// under which rule.
func classifyIP(s string, cidr, testOrDoc bool) (string, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", false // 999.1.2.3: not an address (a version, an OID)
	}
	switch {
	case a.IsLoopback(), a.IsUnspecified(), a.IsLinkLocalUnicast(), a.IsMulticast(),
		a.As4()[0] >= 224, a.As4()[0] == 0: // reserved, netmasks (255.255.255.0)
		return "", false
	}
	for _, p := range docRanges {
		if p.Contains(a) {
			return "", false
		}
	}
	for _, p := range privateRanges {
		if p.Contains(a) {
			if cidr || testOrDoc {
				return "", false
			}
			return RulePrivateIP, true
		}
	}
	return RulePublicIP, true
}

func mask(s string) string {
	if len(s) <= 6 {
		return "****"
	}
	return s[:4] + strings.Repeat("*", min(len(s)-4, 12))
}

// Skipped directories (anywhere in the tree) and files.
var (
	skipDirs  = map[string]bool{".git": true, "node_modules": true, "dist": true, "bin": true, ".vacunometro": true, ".terraform": true}
	skipFiles = map[string]bool{"go.sum": true, "package-lock.json": true}
)

// OwnTestdata is the scanner's own sample directory, skipped by Walk.
const OwnTestdata = "internal/secretscan/testdata"

// Walk scans every text file under root (skipping version control, build
// output, dependencies and the scanner's own samples).
func Walk(root string) ([]Finding, error) {
	var out []Finding
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if p != root && (skipDirs[d.Name()] || rel == OwnTestdata) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || skipFiles[d.Name()] {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() > 4<<20 {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("secretscan: %w", err)
		}
		if bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0 {
			return nil // binary
		}
		out = append(out, ScanContent(rel, b)...)
		return nil
	})
	return out, err
}

// Allow is one justified exception: findings of Rule in files matching
// Glob whose match contains Contains (any when "*").
type Allow struct {
	Glob, Rule, Contains, Why string
	Line                      int // in the allowlist file
}

// ParseAllowlist reads lines of the form
//
//	<path glob> <rule> <text the match contains, or *> -- <why it is fine>
//
// Blank lines and lines starting with # are ignored; the justification is
// required.
func ParseAllowlist(b []byte) ([]Allow, error) {
	var out []Allow
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		spec, why, ok := strings.Cut(line, " -- ")
		f := strings.Fields(spec)
		if !ok || strings.TrimSpace(why) == "" || len(f) != 3 {
			return nil, fmt.Errorf("allowlist line %d: want `<glob> <rule> <contains|*> -- <justification>`: %q", i+1, line)
		}
		if _, err := path.Match(f[0], "x"); err != nil {
			return nil, fmt.Errorf("allowlist line %d: bad glob %q: %w", i+1, f[0], err)
		}
		out = append(out, Allow{Glob: f[0], Rule: f[1], Contains: f[2], Why: strings.TrimSpace(why), Line: i + 1})
	}
	return out, nil
}

// Matches reports whether a allows f.
func (a Allow) Matches(f Finding) bool {
	ok, _ := path.Match(a.Glob, f.Path)
	return ok && a.Rule == f.Rule && (a.Contains == "*" || strings.Contains(f.Match, a.Contains))
}

// Filter returns the findings no entry allows, and the entries that allowed
// nothing (stale exceptions).
func Filter(fs []Finding, allow []Allow) (left []Finding, unused []Allow) {
	used := make([]bool, len(allow))
	for _, f := range fs {
		allowed := false
		for i, a := range allow {
			if a.Matches(f) {
				used[i], allowed = true, true
			}
		}
		if !allowed {
			left = append(left, f)
		}
	}
	for i, a := range allow {
		if !used[i] {
			unused = append(unused, a)
		}
	}
	return left, unused
}
