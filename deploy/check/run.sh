#!/usr/bin/env bash
# Runs the deployment checks (Go module deploy/check): kustomize overlays, cloudbuild.yaml,
# Terraform in infra/, the Dockerfile's go build. Called by `make test`; works in a fresh clone
# (downloads this module's dependencies through the Go module proxy on first run).
# Prints each test's result, the reasons of any skipped test, and a closing summary line.
set -euo pipefail
cd "$(dirname "$0")"
export CHECKPOINT_DISABLE=1 GOFLAGS="${GOFLAGS:--buildvcs=false}"

echo "deploy/check: downloading modules"
go mod download
echo "deploy/check: gofmt and go vet"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "deploy/check: not gofmt-formatted: $unformatted"
  exit 1
fi
go vet ./...

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "deploy/check: go test (the first run builds ./cmd/vacunometro like the Dockerfile; a few minutes cold)"
status=0
go test -count=1 -timeout 30m -v ./... >"$log" 2>&1 || status=$?

# Top-level results, skip reasons, and the package lines.
grep -E '^(--- (PASS|FAIL|SKIP)|ok |FAIL|PASS$)' "$log" || true
if grep -q -- '--- SKIP' "$log"; then
  echo "deploy/check: skipped tests and why:"
  grep -A2 -- '--- SKIP' "$log" | grep -E '^\s+\S+\.go:[0-9]+:' || true
fi
if [ "$status" -ne 0 ]; then
  echo "deploy/check: go test failed; full output:"
  cat "$log"
fi
passed=$(grep -cE '^\s*--- PASS' "$log" || true)
failed=$(grep -cE '^\s*--- FAIL' "$log" || true)
skipped=$(grep -cE '^\s*--- SKIP' "$log" || true)
echo "deploy/check: $passed passed, $failed failed, $skipped skipped"
exit "$status"
