package check

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// BuildContext is the set of files `docker build .` sends, after .dockerignore.
type BuildContext struct {
	root string
	pm   *patternmatcher.PatternMatcher
}

// LoadBuildContext reads root/.dockerignore with Docker's own parser and matcher.
func LoadBuildContext(root string) (*BuildContext, error) {
	var patterns []string
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	switch {
	case err == nil:
		defer f.Close()
		patterns, err = ignorefile.ReadAll(f)
		if err != nil {
			return nil, fmt.Errorf(".dockerignore: %w", err)
		}
	case !os.IsNotExist(err):
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	return &BuildContext{root: root, pm: pm}, nil
}

// Includes reports whether rel (slash-separated, relative to the root) is sent to the builder.
func (c *BuildContext) Includes(rel string) bool {
	excluded, err := c.pm.MatchesOrParentMatches(filepath.FromSlash(rel))
	return err == nil && !excluded
}

// CopyTo copies the context's regular files under dir (skipping .git), like `COPY . .` would see
// them, and returns how many files it copied.
func (c *BuildContext) CopyTo(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(c.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(c.root, path)
		if err != nil || rel == "." {
			return err
		}
		if d.IsDir() && (rel == ".git" || strings.HasPrefix(filepath.Base(rel), ".deploy-check-")) {
			return filepath.SkipDir
		}
		if !c.Includes(filepath.ToSlash(rel)) {
			if d.IsDir() && !c.pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		dst := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := copyFile(path, dst); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("copy build context: %w", err)
	}
	return n, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
