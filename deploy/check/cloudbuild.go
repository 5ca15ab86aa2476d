package check

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/cloudbuild/apiv1/v2/cloudbuildpb"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

// ParseCloudBuild decodes a cloudbuild.yaml strictly into Cloud Build's Build message: unknown
// fields, wrong types and bad enum values fail.
func ParseCloudBuild(src []byte) (*cloudbuildpb.Build, error) {
	js, err := yaml.YAMLToJSON(src)
	if err != nil {
		return nil, fmt.Errorf("cloudbuild: yaml: %w", err)
	}
	var b cloudbuildpb.Build
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, &b); err != nil {
		return nil, fmt.Errorf("cloudbuild: %w", err)
	}
	return &b, nil
}

// BuiltinSubstitutions are Cloud Build's default substitutions, with sample values for expansion.
var BuiltinSubstitutions = map[string]string{
	"PROJECT_ID":                "example-project",
	"PROJECT_NUMBER":            "123456789012",
	"BUILD_ID":                  "0b9f6a2e-3c1d-4e5f-8a7b-9c0d1e2f3a4b",
	"LOCATION":                  "us-central1",
	"TRIGGER_NAME":              "release",
	"COMMIT_SHA":                "0123456789abcdef0123456789abcdef01234567",
	"REVISION_ID":               "0123456789abcdef0123456789abcdef01234567",
	"SHORT_SHA":                 "0123456",
	"REPO_NAME":                 "vacunometro",
	"REPO_FULL_NAME":            "vacunometro/vacunometro",
	"BRANCH_NAME":               "main",
	"TAG_NAME":                  "",
	"REF_NAME":                  "main",
	"TRIGGER_BUILD_CONFIG_PATH": "cloudbuild.yaml",
	"SERVICE_ACCOUNT_EMAIL":     "deployer@example-project.iam.gserviceaccount.com",
	"SERVICE_ACCOUNT":           "projects/example-project/serviceAccounts/deployer@example-project.iam.gserviceaccount.com",
}

var (
	substRef     = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)
	userSubstKey = regexp.MustCompile(`^_[A-Z0-9_]+$`)
)

// refs returns the substitution names s references ($$ is an escaped dollar, not a reference).
func refs(s string) []string {
	var out []string
	for _, m := range substRef.FindAllStringSubmatch(s, -1) {
		switch {
		case m[0] == "$$":
		case m[1] != "":
			out = append(out, m[1])
		default:
			out = append(out, m[3])
		}
	}
	return out
}

// Expand applies substitutions the way Cloud Build does ($$ becomes $), resolving substitutions
// that reference others (dynamicSubstitutions) first.
func Expand(s string, subs map[string]string) string {
	return substRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		name := strings.Trim(strings.TrimPrefix(m, "$"), "{}")
		if v, ok := subs[name]; ok {
			return v
		}
		return m
	})
}

// Substitutions returns the build's substitutions merged over the built-ins (and overrides over
// both), with values that reference other substitutions resolved.
func Substitutions(b *cloudbuildpb.Build, overrides map[string]string) map[string]string {
	subs := map[string]string{}
	for k, v := range BuiltinSubstitutions {
		subs[k] = v
	}
	for k, v := range b.GetSubstitutions() {
		subs[k] = v
	}
	for k, v := range overrides {
		subs[k] = v
	}
	for range 10 {
		changed := false
		for k, v := range subs {
			nv := substRef.ReplaceAllStringFunc(v, func(m string) string {
				if m == "$$" {
					return m
				}
				name := strings.Trim(strings.TrimPrefix(m, "$"), "{}")
				if r, ok := subs[name]; ok && name != k {
					return r
				}
				return m
			})
			if nv != v {
				subs[k], changed = nv, true
			}
		}
		if !changed {
			break
		}
	}
	return subs
}

// stepStrings are the strings of a step that Cloud Build substitutes.
func stepStrings(s *cloudbuildpb.BuildStep) []string {
	out := []string{s.GetName(), s.GetEntrypoint(), s.GetDir(), s.GetScript()}
	out = append(out, s.GetArgs()...)
	out = append(out, s.GetEnv()...)
	return out
}

// CheckCloudBuild returns the problems of a decoded build: undefined or unused substitutions,
// step images that are not a tagged reference (after substitution) or use latest, missing or
// repeated step ids, waitFor naming no earlier step, bash scripts with syntax errors, docker and
// gcloud steps with malformed arguments, and repository files the steps run that do not exist
// (repoRoot "" skips that last check).
func CheckCloudBuild(b *cloudbuildpb.Build, repoRoot string) []string {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	user := b.GetSubstitutions()
	used := map[string]bool{}
	for k := range user {
		if !userSubstKey.MatchString(k) {
			add("substitution %s: user-defined substitutions are _UPPER_CASE", k)
		}
	}
	checkRefs := func(where, s string) {
		for _, r := range refs(s) {
			used[r] = true
			if _, ok := user[r]; ok {
				continue
			}
			if _, ok := BuiltinSubstitutions[r]; ok {
				continue
			}
			add("%s: $%s is not a substitution (write $$%s for a shell variable)", where, r, r)
		}
	}
	for _, k := range sortedKeys(user) {
		checkRefs("substitution "+k, user[k])
	}
	for _, e := range b.GetOptions().GetEnv() {
		checkRefs("options.env", e)
	}
	for i, s := range b.GetSteps() {
		for _, str := range stepStrings(s) {
			checkRefs(fmt.Sprintf("step %d (%s)", i, s.GetId()), str)
		}
	}
	for _, k := range sortedKeys(user) {
		if !used[k] {
			add("substitution %s is defined but never used (Cloud Build rejects that by default)", k)
		}
	}
	if len(user) > 0 && anySubstRefsSub(user) && !b.GetOptions().GetDynamicSubstitutions() {
		add("substitutions reference other substitutions but options.dynamicSubstitutions is not true")
	}
	if b.GetServiceAccount() != "" && b.GetOptions().GetLogging() == cloudbuildpb.BuildOptions_LOGGING_UNSPECIFIED && b.GetLogsBucket() == "" {
		add("serviceAccount is set: options.logging or logsBucket must be set too")
	}

	subs := Substitutions(b, nil)
	ids := map[string]int{}
	if len(b.GetSteps()) == 0 {
		add("no steps")
	}
	for i, s := range b.GetSteps() {
		where := fmt.Sprintf("step %d (%s)", i, s.GetId())
		if s.GetId() == "" {
			add("%s: no id", where)
		} else if _, dup := ids[s.GetId()]; dup {
			add("%s: id repeated", where)
		}
		for _, w := range s.GetWaitFor() {
			if w == "-" {
				continue
			}
			if _, ok := ids[w]; !ok {
				add("%s: waitFor %q names no earlier step", where, w)
			}
		}
		ids[s.GetId()] = i
		image := Expand(s.GetName(), subs)
		if _, err := ParseImageRef(image); err != nil {
			add("%s: %v", where, err)
		}
		args := make([]string, len(s.GetArgs()))
		for j, a := range s.GetArgs() {
			args[j] = Expand(a, subs)
		}
		entry := s.GetEntrypoint()
		switch {
		case entry == "bash" || entry == "sh":
			script, ok := shellScript(args)
			if !ok {
				add("%s: %s entrypoint without -c SCRIPT args", where, entry)
				break
			}
			if err := BashSyntax(script); err != nil {
				add("%s: %v", where, err)
			}
			if repoRoot != "" {
				for _, f := range repoFiles(script) {
					if _, err := os.Stat(filepath.Join(repoRoot, f)); err != nil {
						add("%s: runs %s, which is not in the repository", where, f)
					}
				}
			}
		case entry == "gcloud":
			if len(args) == 0 || strings.HasPrefix(args[0], "-") {
				add("%s: gcloud without a command group", where)
			}
			for _, a := range args {
				if strings.HasPrefix(a, "--image=") {
					if _, err := ParseImageRef(strings.TrimPrefix(a, "--image=")); err != nil {
						add("%s: --image: %v", where, err)
					}
				}
				if strings.HasPrefix(a, "--update-env-vars=") || strings.HasPrefix(a, "--set-env-vars=") {
					v := a[strings.Index(a, "=")+1:]
					if !strings.HasPrefix(v, "^") && strings.Count(v, "=") > strings.Count(v, ",")+1 {
						add("%s: %s: a value with commas needs gcloud's ^DELIM^ escaping", where, a)
					}
				}
			}
		case entry == "" && strings.Contains(image, "cloud-builders/docker"):
			problems = append(problems, checkDockerArgs(where, args, repoRoot)...)
		}
	}
	problems = append(problems, checkSecretEnv(b)...)
	return problems
}

// secretVersion is a Secret Manager version's resource name.
var secretVersion = regexp.MustCompile(`^projects/[^/]+/secrets/[A-Za-z0-9_-]+/versions/[A-Za-z0-9]+$`)

// checkSecretEnv: every secretEnv a step names comes from availableSecrets
// (Secret Manager), and a step that posts records (the smoke test's --post,
// Locust) gets the producer key that way: the ingest refuses records
// without one, and a key written into the build would be in its history.
func checkSecretEnv(b *cloudbuildpb.Build) []string {
	var problems []string
	provided := map[string]bool{}
	for _, sm := range b.GetAvailableSecrets().GetSecretManager() {
		if !secretVersion.MatchString(sm.GetVersionName()) {
			problems = append(problems, fmt.Sprintf("availableSecrets: %q is not a Secret Manager version (projects/P/secrets/S/versions/V)", sm.GetVersionName()))
		}
		provided[sm.GetEnv()] = true
	}
	for i, st := range b.GetSteps() {
		where := fmt.Sprintf("step %d (%s)", i, st.GetId())
		for _, e := range st.GetSecretEnv() {
			if !provided[e] {
				problems = append(problems, fmt.Sprintf("%s: secretEnv %s is not in availableSecrets", where, e))
			}
		}
		script := strings.Join(stepStrings(st), " ")
		posts := strings.Contains(script, "smoke.py --post") || strings.Contains(script, "locustfile.py")
		if posts && !slices.Contains(st.GetSecretEnv(), "VAC_PRODUCER_KEY") {
			problems = append(problems, fmt.Sprintf("%s posts records but has no secretEnv VAC_PRODUCER_KEY (the producer key, from Secret Manager)", where))
		}
		for _, e := range st.GetEnv() {
			if strings.HasPrefix(e, "VAC_PRODUCER_KEY=") {
				problems = append(problems, fmt.Sprintf("%s: VAC_PRODUCER_KEY in env: give it through secretEnv from Secret Manager", where))
			}
		}
	}
	return problems
}

func anySubstRefsSub(user map[string]string) bool {
	for _, v := range user {
		if len(refs(v)) > 0 {
			return true
		}
	}
	return false
}

func shellScript(args []string) (string, bool) {
	if len(args) < 2 || !strings.HasPrefix(args[0], "-") || !strings.Contains(args[0], "c") {
		return "", false
	}
	return args[1], true
}

var repoFileRE = regexp.MustCompile(`(?:^|[\s"'=])((?:deploy|loadtest|scripts|cluster|infra)/[A-Za-z0-9_./-]+\.(?:py|sh|yaml|json))`)

func repoFiles(script string) []string {
	var out []string
	for _, m := range repoFileRE.FindAllStringSubmatch(script, -1) {
		out = append(out, m[1])
	}
	return out
}

// BashSyntax runs `bash -n` on a script.
func BashSyntax(script string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-n")
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bash -n: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func checkDockerArgs(where string, args []string, repoRoot string) []string {
	var problems []string
	if len(args) == 0 {
		return []string{where + ": docker without a command"}
	}
	switch args[0] {
	case "build":
		var tags []string
		dockerfile := "Dockerfile"
		ctxDir := ""
		for i := 1; i < len(args); i++ {
			switch a := args[i]; {
			case a == "-t" || a == "--tag":
				if i+1 < len(args) {
					tags = append(tags, args[i+1])
					i++
				}
			case strings.HasPrefix(a, "--tag="):
				tags = append(tags, strings.TrimPrefix(a, "--tag="))
			case a == "-f" || a == "--file":
				if i+1 < len(args) {
					dockerfile = args[i+1]
					i++
				}
			case strings.HasPrefix(a, "-"):
			default:
				ctxDir = a
			}
		}
		if len(tags) == 0 {
			problems = append(problems, where+": docker build without -t")
		}
		for _, t := range tags {
			if _, err := ParseImageRef(t); err != nil {
				problems = append(problems, fmt.Sprintf("%s: -t: %v", where, err))
			}
		}
		if ctxDir == "" {
			problems = append(problems, where+": docker build without a context directory")
		}
		if repoRoot != "" {
			if _, err := os.Stat(filepath.Join(repoRoot, ctxDir, dockerfile)); err != nil && !filepath.IsAbs(dockerfile) {
				if _, err2 := os.Stat(filepath.Join(repoRoot, dockerfile)); err2 != nil {
					problems = append(problems, fmt.Sprintf("%s: %s not found", where, dockerfile))
				}
			}
		}
	case "push":
		if len(args) != 2 {
			problems = append(problems, where+": docker push takes one image")
		} else if _, err := ParseImageRef(args[1]); err != nil {
			problems = append(problems, fmt.Sprintf("%s: push: %v", where, err))
		}
	default:
		if !slices.Contains([]string{"tag", "pull", "run", "buildx", "login"}, args[0]) {
			problems = append(problems, fmt.Sprintf("%s: unknown docker command %q", where, args[0]))
		}
	}
	return problems
}

// StepByID returns the step with the given id.
func StepByID(b *cloudbuildpb.Build, id string) (*cloudbuildpb.BuildStep, bool) {
	for _, s := range b.GetSteps() {
		if s.GetId() == id {
			return s, true
		}
	}
	return nil, false
}

// StepOrder returns whether step a runs before step b: b waits, directly or not, for a.
// A step without waitFor waits for every step before it.
func StepOrder(b *cloudbuildpb.Build, first, then string) bool {
	idx := map[string]int{}
	for i, s := range b.GetSteps() {
		idx[s.GetId()] = i
	}
	seen := map[string]bool{}
	var waitsFor func(id string) bool
	waitsFor = func(id string) bool {
		if seen[id] {
			return false
		}
		seen[id] = true
		i, ok := idx[id]
		if !ok {
			return false
		}
		s := b.GetSteps()[i]
		deps := s.GetWaitFor()
		if len(deps) == 0 {
			for j := 0; j < i; j++ {
				deps = append(deps, b.GetSteps()[j].GetId())
			}
		}
		for _, d := range deps {
			if d == first || waitsFor(d) {
				return true
			}
		}
		return false
	}
	return waitsFor(then)
}

// SortedSubstitutionNames lists a build's user substitutions.
func SortedSubstitutionNames(b *cloudbuildpb.Build) []string {
	names := sortedKeys(b.GetSubstitutions())
	sort.Strings(names)
	return names
}
