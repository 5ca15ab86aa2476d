package check

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Instruction is one Dockerfile instruction with its continuation lines joined.
type Instruction struct {
	Cmd  string // upper case: FROM, RUN, COPY, ...
	Args string
	Line int
}

// Stage is one FROM ... [AS name] section.
type Stage struct {
	Image string
	Name  string
	Insts []Instruction
}

// ParseDockerfile splits a Dockerfile into stages.
func ParseDockerfile(src string) ([]Stage, error) {
	var stages []Stage
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		start := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			next := strings.TrimSpace(lines[i])
			if strings.HasPrefix(next, "#") {
				continue
			}
			line = strings.TrimSuffix(line, "\\") + " " + next
		}
		cmd, args, _ := strings.Cut(line, " ")
		inst := Instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start}
		if inst.Cmd == "FROM" {
			f := strings.Fields(inst.Args)
			var img, name string
			for j := 0; j < len(f); j++ {
				switch {
				case strings.HasPrefix(f[j], "--"):
				case strings.EqualFold(f[j], "AS") && j+1 < len(f):
					name = f[j+1]
					j++
				case img == "":
					img = f[j]
				}
			}
			if img == "" {
				return nil, fmt.Errorf("line %d: FROM without an image", start)
			}
			stages = append(stages, Stage{Image: img, Name: name})
			continue
		}
		if len(stages) == 0 {
			if inst.Cmd == "ARG" {
				continue
			}
			return nil, fmt.Errorf("line %d: %s before the first FROM", start, inst.Cmd)
		}
		stages[len(stages)-1].Insts = append(stages[len(stages)-1].Insts, inst)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return stages, nil
}

// GoBuild is the `go build` command a Dockerfile runs.
type GoBuild struct {
	Stage   string
	Env     map[string]string // from ENV instructions of the stage and VAR=value prefixes
	Flags   []string          // build flags, without -o
	Output  string
	Package string
}

// ShellWords splits a command line into words with POSIX-shell quoting (no expansions).
func ShellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.ContainsRune(`"\$`+"`", rune(s[i+1])) {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

var envAssign = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// FindGoBuild returns the go build the Dockerfile runs (exactly one is expected).
func FindGoBuild(stages []Stage) (GoBuild, error) {
	var found []GoBuild
	for _, st := range stages {
		env := map[string]string{}
		for _, in := range st.Insts {
			switch in.Cmd {
			case "ENV":
				words, err := ShellWords(in.Args)
				if err != nil {
					return GoBuild{}, fmt.Errorf("line %d: %w", in.Line, err)
				}
				if len(words) == 2 && !strings.Contains(words[0], "=") {
					env[words[0]] = words[1]
					continue
				}
				for _, w := range words {
					if k, v, ok := strings.Cut(w, "="); ok {
						env[k] = v
					}
				}
			case "RUN":
				for _, part := range strings.Split(in.Args, "&&") {
					words, err := ShellWords(strings.TrimSpace(part))
					if err != nil {
						return GoBuild{}, fmt.Errorf("line %d: %w", in.Line, err)
					}
					gb := GoBuild{Stage: st.Name, Env: map[string]string{}}
					for k, v := range env {
						gb.Env[k] = v
					}
					j := 0
					for ; j < len(words) && envAssign.MatchString(words[j]); j++ {
						k, v, _ := strings.Cut(words[j], "=")
						gb.Env[k] = v
					}
					if j+1 >= len(words) || words[j] != "go" || words[j+1] != "build" {
						continue
					}
					rest := words[j+2:]
					for k := 0; k < len(rest); k++ {
						w := rest[k]
						switch {
						case w == "-o" && k+1 < len(rest):
							gb.Output = rest[k+1]
							k++
						case strings.HasPrefix(w, "-o="):
							gb.Output = strings.TrimPrefix(w, "-o=")
						case strings.HasPrefix(w, "-"):
							gb.Flags = append(gb.Flags, w)
							if slices.Contains([]string{"-ldflags", "-tags", "-gcflags", "-mod"}, w) && k+1 < len(rest) {
								gb.Flags = append(gb.Flags, rest[k+1])
								k++
							}
						default:
							gb.Package = w
						}
					}
					found = append(found, gb)
				}
			}
		}
	}
	if len(found) != 1 {
		return GoBuild{}, fmt.Errorf("the Dockerfile runs go build %d times, want once", len(found))
	}
	return found[0], nil
}

// CheckDockerfile returns the problems of a Dockerfile: base images without a tag or with latest,
// a final stage that is not distroless static as nonroot, a go build that is not static and
// trimmed or does not build ./cmd/vacunometro, an entrypoint that is not the built binary, and a
// Go toolchain image older than the go directive of go.mod (goVersion, e.g. "1.26.0"; "" skips).
func CheckDockerfile(src, goVersion string) []string {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	stages, err := ParseDockerfile(src)
	if err != nil {
		return []string{err.Error()}
	}
	names := map[string]bool{}
	for _, st := range stages {
		if !names[st.Image] {
			if _, err := ParseImageRef(st.Image); err != nil {
				add("FROM %v", err)
			}
		}
		if st.Name != "" {
			names[st.Name] = true
		}
	}
	if len(stages) > 0 {
		labels := ""
		for _, in := range stages[len(stages)-1].Insts {
			if in.Cmd == "LABEL" {
				labels += " " + in.Args
			}
		}
		for _, k := range []string{"org.opencontainers.image.title", "org.opencontainers.image.version"} {
			if !strings.Contains(labels, k+"=") {
				add("the final stage has no LABEL %s (OCI annotations)", k)
			}
		}
	}
	gb, err := FindGoBuild(stages)
	if err != nil {
		add("%v", err)
	} else {
		if gb.Env["CGO_ENABLED"] != "0" {
			add("go build without CGO_ENABLED=0 (the binary must be static for distroless/static)")
		}
		if !slices.Contains(gb.Flags, "-trimpath") {
			add("go build without -trimpath")
		}
		ld := ""
		for i, f := range gb.Flags {
			if f == "-ldflags" && i+1 < len(gb.Flags) {
				ld = gb.Flags[i+1]
			} else if strings.HasPrefix(f, "-ldflags=") {
				ld = strings.TrimPrefix(f, "-ldflags=")
			}
		}
		if lf := strings.Fields(ld); !slices.Contains(lf, "-s") || !slices.Contains(lf, "-w") {
			add("go build without -ldflags \"-s -w\" (got %q)", ld)
		}
		tags := ""
		for i, f := range gb.Flags {
			if f == "-tags" && i+1 < len(gb.Flags) {
				tags = gb.Flags[i+1]
			} else if strings.HasPrefix(f, "-tags=") {
				tags = strings.TrimPrefix(f, "-tags=")
			}
		}
		if !slices.Contains(strings.FieldsFunc(tags, func(r rune) bool { return r == ',' || r == ' ' }), "noembed") {
			add("go build without -tags noembed: the image would carry the embedded test services (FerretDB, miniredis, pstest)")
		}
		if !strings.Contains(ld, "-X "+RootModule+"/internal/app.Version=") {
			add("go build does not stamp the version (-ldflags \"-X %s/internal/app.Version=...\"): `vacunometro version` and vacunometro_build_info would say dev", RootModule)
		}
		if gb.Package != "./cmd/vacunometro" {
			add("go build builds %q, want ./cmd/vacunometro", gb.Package)
		}
		if gb.Output == "" {
			add("go build without -o")
		}
	}
	final := stages[len(stages)-1]
	if !strings.Contains(final.Image, "distroless/static") || !strings.Contains(final.Image, "nonroot") {
		add("final stage is %s, want distroless static :nonroot", final.Image)
	}
	var user, entry string
	copied := map[string]string{} // destination -> source, for COPY --from=<go build stage>
	for _, in := range final.Insts {
		switch in.Cmd {
		case "USER":
			user = in.Args
		case "ENTRYPOINT":
			var argv []string
			if err := json.Unmarshal([]byte(in.Args), &argv); err != nil || len(argv) == 0 {
				add("line %d: ENTRYPOINT must be exec form (a JSON array)", in.Line)
			} else {
				entry = argv[0]
			}
		case "COPY":
			f := strings.Fields(in.Args)
			if len(f) >= 3 && gb.Stage != "" && f[0] == "--from="+gb.Stage {
				copied[f[len(f)-1]] = f[len(f)-2]
			}
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u != "nonroot" && u != "65532" {
		add("final stage USER is %q, want nonroot (65532)", user)
	}
	if entry == "" {
		add("no ENTRYPOINT in the final stage")
	} else if gb.Output != "" && copied[entry] != gb.Output {
		add("ENTRYPOINT %s is not the binary go build writes (%s)", entry, gb.Output)
	}
	if goVersion != "" {
		for _, st := range stages {
			ref, err := ParseImageRef(st.Image)
			if err != nil || !strings.HasSuffix(ref.Path, "golang") {
				continue
			}
			if !versionAtLeast(ref.Tag, goVersion) {
				add("FROM %s: go.mod needs go %s", st.Image, goVersion)
			}
		}
	}
	return problems
}

// versionAtLeast compares the leading major.minor of an image tag ("1.26-bookworm") with a go
// directive ("1.26.0").
func versionAtLeast(tag, want string) bool {
	parse := func(s string) (int, int, bool) {
		m := regexp.MustCompile(`^(\d+)\.(\d+)`).FindStringSubmatch(s)
		if m == nil {
			return 0, 0, false
		}
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		return a, b, true
	}
	ta, tb, ok1 := parse(tag)
	wa, wb, ok2 := parse(want)
	if !ok1 || !ok2 {
		return false
	}
	return ta > wa || (ta == wa && tb >= wb)
}

// GoDirective returns the go version of a go.mod.
func GoDirective(gomod string) string {
	for _, line := range strings.Split(gomod, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "go" {
			return f[1]
		}
	}
	return ""
}
