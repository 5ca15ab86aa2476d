#!/usr/bin/env bash
# Installs what `make test` needs when it can (as root, or with sudo that
# asks no password): Debian packages, the Go tools pinned in the Makefile and
# the dashboard's npm packages. Otherwise it stops with one line naming the
# missing piece and the command that installs it. Run by scripts/test.sh
# (make test), hence by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
export PATH="$($GO env GOPATH)/bin:$PATH"

missing() { # missing WHAT COMMAND
	echo "make test: $1 is missing; install it with: $2" >&2
	exit 1
}

# Debian packages, by the command each provides.
declare -A pkg=([protoc]=protobuf-compiler [redis-server]=redis-server [psql]=postgresql-client [/usr/bin/chromium]=chromium [/usr/bin/locust]=python3-locust)
need=()
for c in protoc redis-server psql /usr/bin/chromium /usr/bin/locust; do
	command -v "$c" >/dev/null || need+=("${pkg[$c]}")
done
if ((${#need[@]})); then
	if [[ $(id -u) == 0 ]]; then
		sudo=()
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo=(sudo)
	else
		missing "${need[*]}" "sudo apt-get install -y ${need[*]}"
	fi
	echo "installing ${need[*]} (apt)"
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null
fi
command -v gcloud >/dev/null ||
	missing "gcloud with the Pub/Sub emulator" "apt-get install -y google-cloud-cli google-cloud-cli-pubsub-emulator (from Google Cloud's apt repository)"
command -v npm >/dev/null || missing "Node 20 and npm" "apt-get install -y nodejs npm"

# The pinned Go tools (protoc plugins, staticcheck).
make -s tools

# The dashboard's packages, as the lock file says.
if [[ -f webapp/package.json && ! -d webapp/node_modules ]]; then
	(cd webapp && npm ci --no-audit --no-fund >/dev/null)
fi
