#!/usr/bin/env bash
# Runs every test of vacunometro against the real services (what `make test`
# runs, and .ci/run):
#   - first scripts/setup.sh: installs what is missing, or stops naming it
#   - Go: gofmt, vet, staticcheck, unit and integration tests (redis-server per test, FerretDB, the
#     Pub/Sub emulator)
#   - the deployment checks (deploy/check), the dashboard's lint, unit and browser tests, Locust
# It starts the Pub/Sub emulator when PUBSUB_EMULATOR_HOST is not set and stops it at the end.
# With everything installed, a missing service fails its tests instead of skipping them.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
GO=${GO:-go}
./scripts/setup.sh || exit 1
export PATH="$($GO env GOPATH)/bin:$PATH" VAC_REQUIRE_SERVICES=1
passed=0; failed=0; failures=()
step() { # step NAME CMD...: run a suite, count it
	local name=$1; shift
	printf '\n=== %s\n' "$name"
	local t0=$SECONDS
	if "$@"; then
		passed=$((passed + 1)); printf -- '--- ok   %s (%ds)\n' "$name" $((SECONDS - t0))
	else
		failed=$((failed + 1)); failures+=("$name"); printf -- '--- FAIL %s (%ds)\n' "$name" $((SECONDS - t0))
	fi
}

EMU_PGID=""
cleanup() {
	if [[ -n "$EMU_PGID" ]]; then kill -- -"$EMU_PGID" 2>/dev/null; fi
}
trap cleanup EXIT

if [[ -z "${PUBSUB_EMULATOR_HOST:-}" ]]; then
	if command -v gcloud >/dev/null; then
		port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		echo "starting the Pub/Sub emulator on 127.0.0.1:$port"
		setsid gcloud beta emulators pubsub start --host-port="127.0.0.1:$port" --project=local \
			>"${TMPDIR:-/tmp}/vacunometro-pubsub-emulator.log" 2>&1 &
		EMU_PGID=$!
		for _ in $(seq 1 90); do
			curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
			sleep 1
		done
		if curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1; then
			export PUBSUB_EMULATOR_HOST="127.0.0.1:$port"
		else
			echo "the Pub/Sub emulator did not start; see ${TMPDIR:-/tmp}/vacunometro-pubsub-emulator.log"
		fi
	fi
fi

step "gofmt" bash -c '[[ -z "$(git ls-files "*.go" | xargs gofmt -l | tee /dev/stderr)" ]]'
step "go vet" $GO vet ./...
step "staticcheck" make -s lint-go
step "go build" make -s build
step "go test" $GO test -count=1 -timeout 20m ./...

if [[ -x deploy/check/run.sh ]]; then
	step "deployment checks" deploy/check/run.sh
fi
if [[ -f webapp/package.json ]]; then
	step "webapp lint (oxlint)" bash -c 'cd webapp && npm run lint --silent'
	step "webapp unit tests" bash -c 'cd webapp && npm test --silent'
	step "webapp build" bash -c 'cd webapp && npm run build --silent'
	if grep -q '"e2e"' webapp/package.json; then
		step "dashboard in Chromium" bash -c "cd webapp && VAC_BIN=$ROOT/bin/vacunometro npm run e2e --silent"
	fi
fi
step "load (Locust, 30 s)" env DURATION="${LOAD_DURATION:-30s}" ./scripts/load.sh
if [[ -n "${CI:-}" || -n "${VAC_FUZZ:-}" ]]; then
	# A short fuzz run of each target; what they find lands in testdata/fuzz (commit it).
	# Budgets are counts of executions, not durations: with -fuzztime as a
	# duration, Go before 1.27 can fail a target that found nothing when the
	# deadline lands mid-execution ("context deadline exceeded", go.dev/issue/75804).
	# The counts are about 20 s and 10 s of fuzzing here.
	step "fuzz record decoder (300,000 inputs)" $GO test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 300000x ./internal/record/
	step "fuzz split parser (50,000 inputs)" $GO test -run '^$' -fuzz '^FuzzParse$' -fuzztime 50000x ./internal/split/
fi
if [[ -n "${CI:-}" || -n "${VAC_SECURITY:-}" ]]; then
	step "security (govulncheck, npm audit)" ./scripts/security.sh
fi
if [[ -n "${VAC_TEST_EXTRA:-}" ]]; then
	for extra in $VAC_TEST_EXTRA; do step "$extra" make -s "$extra"; done
fi

echo
if ((failed > 0)); then printf 'failed suites: %s\n' "${failures[*]}"; fi
echo "suites: $passed passed, $failed failed"
((failed == 0))
