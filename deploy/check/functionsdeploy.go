package check

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// CheckSourceDeploys returns `gcloud run deploy --source` commands (in the guide's sh blocks and in
// any other text given, such as Go doc comments) that Google's Go buildpack cannot build from
// repoRoot: `--function` needs the function's package at the root of the source, and a
// GOOGLE_BUILDABLE must name a main package (https://cloud.google.com/docs/buildpacks/go).
func CheckSourceDeploys(repoRoot string, texts map[string]string) []string {
	var problems []string
	rootPkg := rootPackage(repoRoot)
	buildable := regexp.MustCompile(`GOOGLE_BUILDABLE=(\S+)`)
	for where, text := range texts {
		var cmds []string
		blocks, _ := ShellBlocks(text)
		if len(blocks) == 0 {
			blocks = []string{strings.ReplaceAll(text, "//", "")}
		}
		for _, b := range blocks {
			for _, c := range commands(b) {
				if strings.Contains(c.text, "gcloud run deploy") && strings.Contains(c.text, "--source") {
					cmds = append(cmds, c.text)
				}
			}
		}
		for _, c := range cmds {
			if strings.Contains(c, "--function") && (rootPkg == "" || rootPkg == "main") {
				problems = append(problems, fmt.Sprintf("%s: %q: the Go buildpack builds a function only from the package at the source root, and %s has none", where, c, repoRoot))
			}
			m := buildable.FindStringSubmatch(c)
			if m == nil {
				if !strings.Contains(c, "--function") {
					problems = append(problems, fmt.Sprintf("%s: %q builds the source root, which has no main package: set GOOGLE_BUILDABLE", where, c))
				}
				continue
			}
			dir := filepath.Join(repoRoot, filepath.FromSlash(strings.Trim(m[1], `"',`)))
			if pkg := packageOf(dir); pkg != "main" {
				problems = append(problems, fmt.Sprintf("%s: GOOGLE_BUILDABLE=%s is not a main package (package %q)", where, m[1], pkg))
			}
		}
	}
	return problems
}

func rootPackage(dir string) string { return packageOf(dir) }

// packageOf returns the package clause of the first non-test .go file in dir ("" when none).
func packageOf(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	clause := regexp.MustCompile(`(?m)^package (\w+)`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if m := clause.FindSubmatch(b); m != nil {
			return string(m[1])
		}
	}
	return ""
}
