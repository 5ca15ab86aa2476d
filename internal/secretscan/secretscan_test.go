package secretscan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Samples are assembled at run time so that this file itself holds no
// credential-shaped text for the repository scan to find.
func j(parts ...string) string { return strings.Join(parts, "") }

func TestScanContent(t *testing.T) {
	tests := []struct {
		name, path, text string
		rule             string // "" when nothing must be found
	}{
		{"mongodb URI with password", "internal/app/x.go", j(`uri := "mongodb://admin:`, `s3cr3t@db.example.com:27017/x"`), RuleURICredentials},
		{"redis URI with only a password", "deploy/x.yaml", j(`url: redis://:`, `hunter22@cache.example.com:6379/0`), RuleURICredentials},
		{"postgres URI in a doc", "docs/x.md", j(`postgres://app:`, `pa55word@pg.example.com/db`), RuleURICredentials},
		{"URI with a user only", "x.go", `"mongodb://admin@db.example.com"`, ""},
		{"URI with a ${VAR} placeholder", "x.yaml", j(`mongodb+srv://app:`, `${MONGO_PASSWORD}@cluster.example.com`), ""},
		{"URI with an UPPER placeholder", "README.md", j(`mongodb+srv://USER:`, `PASSWORD@cluster.example.com/`), ""},
		{"URI with a <placeholder>", "README.md", j(`redis://user:`, `<password>@host:6379`), ""},
		{"URI without credentials", "x.go", `"redis://127.0.0.1:6379/0"`, ""},
		{"RSA private key", "x.pem", j("-----BEGIN ", "RSA PRIVATE KEY-----"), RulePrivateKey},
		{"PKCS8 private key", "x.go", j("key := `-----BEGIN ", "PRIVATE KEY-----"), RulePrivateKey},
		{"OpenSSH private key", "id", j("-----BEGIN ", "OPENSSH PRIVATE KEY-----"), RulePrivateKey},
		{"public key", "x.pem", j("-----BEGIN ", "PUBLIC KEY-----"), ""},
		{"AWS access key id", "x.sh", j("export AWS_ACCESS_KEY_ID=", "AKIA", "IOSFODNN7EXAMPLE"), RuleAWSKey},
		{"AWS-like but short", "x.sh", j("AKIA", "SHORT"), ""},
		{"GitHub token", "x.yaml", j("token: gh", "p_", strings.Repeat("a1B2", 9)), RuleGitHubToken},
		{"GitHub fine-grained token", "x.yaml", j("github", "_pat_", strings.Repeat("A1b2_", 12)), RuleGitHubToken},
		{"Google API key", "x.ts", j(`const k = "AI`, `za`, strings.Repeat("Sy-_9", 7), `"`), RuleGoogleKey},
		{"Slack token", "x.py", j(`SLACK = "xo`, `xb-1234567890-abcdefghij"`), RuleSlackToken},
		{"password literal (Go)", "x.go", j(`cfg := Config{Password: "`, `Tr0ub4dor&3"}`), RuleSecretLiteral},
		{"password literal (YAML)", "x.yaml", j(`db_password: '`, `correcthorse'`), RuleSecretLiteral},
		{"password literal (JSON)", "x.json", j(`{"password": "`, `letmein123"}`), RuleSecretLiteral},
		{"client secret literal", "x.tf", j(`client_secret = "`, `abc123def456"`), RuleSecretLiteral},
		{"password from the environment", "x.go", `password := os.Getenv("DB_PASSWORD")`, ""},
		{"password placeholder", "x.yaml", `password: "${DB_PASSWORD}"`, ""},
		{"empty password", "x.go", `Password: ""`, ""},
		{"public IP in code", "internal/x.go", j(`addr := "34.`, `120.11.8:6379"`), RulePublicIP},
		{"public IP in a manifest", "cluster/x.yaml", j("host: 8.8.", "4.4"), RulePublicIP},
		{"private IP in a manifest", "cluster/x.yaml", j("REDIS_HOST: 10.", "0.0.3"), RulePrivateIP},
		{"private range as a CIDR", "infra/x.tf", j(`ip_cidr_range = "10.`, `10.0.0/20"`), ""},
		{"private IP in a test", "internal/x_test.go", j(`"10.`, `0.0.3:6379"`), ""},
		{"private IP in a doc", "README.md", j("redis://10.", "0.0.3:6379/0"), ""},
		{"public IP in a doc (not code)", "docs/x.md", j("see 8.8.", "8.8"), ""},
		{"loopback", "x.go", `"127.0.0.1:8080"`, ""},
		{"any address", "x.go", `"0.0.0.0:8080"`, ""},
		{"documentation range", "x.go", `"203.0.113.7"`, ""},
		{"metadata server", "x.go", `"169.254.169.254"`, ""},
		{"netmask", "x.sh", `255.255.255.0`, ""},
		{"version number", "x.json", `"version": "1.2.3"`, ""},
		{"five-part version", "x.go", `v := "1.2.3.4.5"`, ""},
		{"out-of-range octets", "x.go", `"300.1.1.1"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ScanContent(tt.path, []byte("line one\n"+tt.text+"\n"))
			if tt.rule == "" {
				if len(got) != 0 {
					t.Fatalf("false positive: %v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Rule != tt.rule || got[0].Line != 2 {
				t.Fatalf("want one %s finding on line 2, got %v", tt.rule, got)
			}
			// The report never repeats a whole secret.
			if tt.rule != RulePublicIP && tt.rule != RulePrivateIP && tt.rule != RulePrivateKey && strings.Contains(tt.text, got[0].Match) {
				t.Fatalf("the finding shows the secret unmasked: %q", got[0].Match)
			}
		})
	}
}

func TestAllowlist(t *testing.T) {
	allow, err := ParseAllowlist([]byte("# comment\n\ndocs/*.md public-ip 192.0.2.8 -- an example\n"))
	if err != nil {
		t.Fatal(err)
	}
	fs := []Finding{
		{Path: "docs/a.md", Rule: RulePublicIP, Match: "192.0.2.8"},
		{Path: "docs/a.md", Rule: RulePublicIP, Match: "192.0.2.1"},
		{Path: "cluster/a.yaml", Rule: RulePublicIP, Match: "192.0.2.8"},
	}
	left, unused := Filter(fs, allow)
	if len(left) != 2 || left[0].Match != "192.0.2.1" || left[1].Path != "cluster/a.yaml" || len(unused) != 0 {
		t.Fatalf("left %v, unused %v", left, unused)
	}
	if _, unused := Filter(nil, allow); len(unused) != 1 {
		t.Fatalf("a stale entry is not reported: %v", unused)
	}
	for _, bad := range []string{"x.go public-ip 192.0.2.9", "x.go public-ip -- no contains", "[ public-ip * -- bad glob"} {
		if _, err := ParseAllowlist([]byte(bad)); err == nil {
			t.Errorf("ParseAllowlist(%q) accepted a line without a justification or with a bad form", bad)
		}
	}
}

// Walk finds what is planted in a tree and skips what it must skip.
func TestWalk(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	planted := j("-----BEGIN ", "EC PRIVATE KEY-----\n")
	write("cluster/secret.yaml", planted)
	write("webapp/node_modules/x/key.pem", planted)
	write(".git/objects/x", planted)
	write("bin/x", planted)
	write("internal/secretscan/testdata/sample.txt", planted)
	write("img.png", "\x00"+planted)
	got, err := Walk(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Path != "cluster/secret.yaml" {
		t.Fatalf("want only cluster/secret.yaml, got %v", got)
	}
}

// moduleRoot is the directory of go.mod above this package.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// The repository holds no credential, key, token or hard-coded address
// (exceptions are justified in allowlist.txt).
func TestRepositoryHasNoSecrets(t *testing.T) {
	root := moduleRoot(t)
	b, err := os.ReadFile("allowlist.txt")
	if err != nil {
		t.Fatal(err)
	}
	allow, err := ParseAllowlist(b)
	if err != nil {
		t.Fatal(err)
	}
	found, err := Walk(root)
	if err != nil {
		t.Fatal(err)
	}
	left, unused := Filter(found, allow)
	for _, f := range left {
		t.Errorf("%s", f)
	}
	if len(left) > 0 {
		t.Errorf("%d findings: remove them (read secrets from the environment / Secret Manager, addresses from configuration), or justify each in internal/secretscan/allowlist.txt", len(left))
	}
	for _, a := range unused {
		t.Errorf("allowlist.txt line %d allows nothing any more (%s %s %s): remove it", a.Line, a.Glob, a.Rule, a.Contains)
	}
}
