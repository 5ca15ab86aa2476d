package check

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	cloudbuildpb "cloud.google.com/go/cloudbuild/apiv1/v2/cloudbuildpb"
)

// Release traffic (the smoke record, Locust's load) reaches the production
// ingest: unless every record it sends is marked synthetic, it is stored
// and counted in the country's public figures (issue 11, item 11).
var (
	smokeSynthetic  = regexp.MustCompile(`(?m)^\s*"synthetic":\s*True,?\s*(#.*)?$`)
	locustSynthetic = regexp.MustCompile(`os\.environ\.get\("VAC_SYNTHETIC",\s*"1"\)\s*!=\s*"0"`)
	syntheticOff    = regexp.MustCompile(`VAC_SYNTHETIC=("|')?0`)
)

// CheckSyntheticRelease returns the ways the build's release traffic would
// reach the public figures: a smoke step posting with a smoke.py whose
// record is not synthetic, a locustfile that does not mark its records
// synthetic by default, or a Locust step that turns the mark off.
func CheckSyntheticRelease(b *cloudbuildpb.Build, repoRoot string) []string {
	var out []string
	read := func(rel string) string {
		src, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", rel, err))
			return ""
		}
		return string(src)
	}
	for _, s := range b.GetSteps() {
		all := strings.Join(stepStrings(s), "\n")
		if strings.Contains(all, "smoke.py") && strings.Contains(all, "--post") {
			if src := read("deploy/check/smoke.py"); src != "" && !smokeSynthetic.MatchString(src) {
				out = append(out, fmt.Sprintf("step %s posts deploy/check/smoke.py's record, which is not marked \"synthetic\": True", s.GetId()))
			}
		}
		if strings.Contains(all, "locustfile.py") {
			if src := read("loadtest/locustfile.py"); src != "" && !locustSynthetic.MatchString(src) {
				out = append(out, fmt.Sprintf("step %s runs loadtest/locustfile.py, which does not mark its records synthetic by default (VAC_SYNTHETIC)", s.GetId()))
			}
			if syntheticOff.MatchString(all) {
				out = append(out, fmt.Sprintf("step %s sets VAC_SYNTHETIC=0: its load would be counted in the public figures", s.GetId()))
			}
		}
	}
	return out
}
