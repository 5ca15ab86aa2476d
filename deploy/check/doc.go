// Package check validates vacunometro's deployment files before they reach a cloud: the kustomize
// overlays in cluster/ (rendered, decoded strictly into typed Kubernetes and Gateway API objects,
// held to a workload policy and cross-checked), cloudbuild.yaml (decoded strictly into Cloud Build's
// Build message, substitutions and steps checked), the Terraform in infra/ (parsed, references and
// formatting checked, Cloud Run traffic ownership checked) and the Dockerfile (its go build is run
// with the same flags and the binary is started). Every route name those files, the Cloud Functions
// and the dashboard's route order use is checked against the one route list in Go (route.All in
// internal/route, read from its source: routes.go).
//
// The checkers return the problems they find as strings, so that each can be tested on bad input;
// the tests in this package run them on the real files and fail on any problem. Run them with
// deploy/check/run.sh.
package check
