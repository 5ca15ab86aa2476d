package check

import (
	"fmt"
	"regexp"
	"strings"
)

// Grammar of github.com/distribution/reference, restricted to what a deployment may use: a name
// with an explicit tag or digest.
var (
	refDomain    = `(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?`
	refComponent = `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
	refTag       = `[\w][\w.-]{0,127}`
	refDigest    = `sha256:[a-f0-9]{64}`
	imageRefRE   = regexp.MustCompile(`^(?:(` + refDomain + `)/)?(` + refComponent + `(?:/` + refComponent + `)*)(?::(` + refTag + `))?(?:@(` + refDigest + `))?$`)
)

// ImageRef is a parsed container image reference.
type ImageRef struct {
	Domain, Path, Tag, Digest string
}

// ParseImageRef parses ref and requires a tag or a digest, and a tag other than "latest".
func ParseImageRef(ref string) (ImageRef, error) {
	m := imageRefRE.FindStringSubmatch(ref)
	if m == nil {
		return ImageRef{}, fmt.Errorf("image %q is not a valid reference", ref)
	}
	r := ImageRef{Domain: m[1], Path: m[2], Tag: m[3], Digest: m[4]}
	// "localhost:5000/x" parses as domain+path; "library/x" has no dot or port: it is a path.
	if r.Domain != "" && !strings.ContainsAny(r.Domain, ".:") && r.Domain != "localhost" {
		r.Path = r.Domain + "/" + r.Path
		r.Domain = ""
	}
	if r.Tag == "" && r.Digest == "" {
		return r, fmt.Errorf("image %q has no tag or digest (that means :latest)", ref)
	}
	if r.Tag == "latest" {
		return r, fmt.Errorf("image %q uses the tag latest", ref)
	}
	return r, nil
}
