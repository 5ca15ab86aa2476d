package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReleaseTrafficIsSynthetic(t *testing.T) {
	root := repoRoot(t)
	b := loadCloudBuild(t)
	if p := CheckSyntheticRelease(b, root); len(p) != 0 {
		t.Fatalf("release traffic would reach the public figures: %v", p)
	}
	// The old forms: a smoke record and a Locust file without the mark, a
	// Locust step that turns it off.
	copyRepo := func(t *testing.T, edit map[string][2]string) string {
		t.Helper()
		dir := t.TempDir()
		for _, rel := range []string{"deploy/check/smoke.py", "loadtest/locustfile.py"} {
			src, err := os.ReadFile(filepath.Join(root, rel))
			if err != nil {
				t.Fatal(err)
			}
			s := string(src)
			if e, ok := edit[rel]; ok {
				if !strings.Contains(s, e[0]) {
					t.Fatalf("%s: %q not found", rel, e[0])
				}
				s = strings.Replace(s, e[0], e[1], 1)
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, rel), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	cases := []struct {
		name string
		edit map[string][2]string
		env  string
		want string
	}{
		{"smoke record not synthetic", map[string][2]string{"deploy/check/smoke.py": {`"synthetic": True,`, ``}}, "", "smoke.py's record"},
		{"locust records real by default", map[string][2]string{"loadtest/locustfile.py": {`os.environ.get("VAC_SYNTHETIC", "1") != "0"`, `os.environ.get("VAC_SYNTHETIC", "0") == "1"`}}, "", "does not mark"},
		{"locust step turns the mark off", nil, "VAC_SYNTHETIC=0", "sets VAC_SYNTHETIC=0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := loadCloudBuild(t)
			if c.env != "" {
				s, ok := StepByID(b, "locust")
				if !ok {
					t.Fatal("no locust step")
				}
				s.Env = append(s.Env, c.env)
			}
			p := CheckSyntheticRelease(b, copyRepo(t, c.edit))
			if len(p) == 0 || !strings.Contains(strings.Join(p, "\n"), c.want) {
				t.Fatalf("problems %v, want one naming %q", p, c.want)
			}
		})
	}
}
