#!/usr/bin/env bash
# Security checks of the dependencies (run by .ci/run):
#   - govulncheck ./... : known vulnerabilities in Go modules and the standard
#     library that the code actually calls;
#   - npm audit --omit=dev in webapp/ (when it exists): the dashboard's
#     production dependencies.
# Prints every finding; exits non-zero on a finding that is not listed, with
# its justification, in scripts/security-exceptions.txt.
#
# The vulnerability database: govulncheck's online database is not reachable
# from every machine, so by default the script builds a local copy from the
# pinned golang.org/x/vulndb module (the Go vulnerability database as a Go
# module, fetched through the Go module proxy) with its own indexdb command,
# cached under ~/.cache/vacunometro. GOVULNDB=URL uses another database
# (e.g. the online one); VULNDB_VERSION picks another snapshot.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
GO=${GO:-go}
GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
EXCEPTIONS=$ROOT/scripts/security-exceptions.txt
export PATH="$($GO env GOPATH)/bin:$PATH"
t0=$SECONDS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# justified ID: is ID listed (first field of a non-comment line, with a justification after " -- ")?
justified() {
	grep -v '^[[:space:]]*#' "$EXCEPTIONS" 2>/dev/null | grep -E "^[[:space:]]*$1[[:space:]]+--[[:space:]]*[^[:space:]]" >/dev/null
}

unjustified=()
findings=0

echo "--- govulncheck $GOVULNCHECK_VERSION"
if ! command -v govulncheck >/dev/null || ! govulncheck -version 2>/dev/null | grep -q "govulncheck@$GOVULNCHECK_VERSION"; then
	echo "installing golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
	(cd "$work" && GOFLAGS= $GO install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION")
fi
db=${GOVULNDB:-}
if [[ -z "$db" ]]; then
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/vacunometro/vulndb-$VULNDB_VERSION
	if [[ ! -f "$cache/index/db.json" ]]; then
		echo "building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION (once; cached in $cache)"
		src=$(cd "$work" && GOFLAGS= $GO mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
		rm -rf "$cache.tmp" && mkdir -p "$(dirname "$cache")"
		(cd "$work" && GOFLAGS= $GO run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$cache.tmp")
		rm -rf "$cache" && mv "$cache.tmp" "$cache"
	fi
	db=file://$cache
fi
echo "database: $db"
govulncheck -db "$db" -format json ./... >"$work/govuln.json"
# Findings the code reaches (a trace down to a function), one line each:
# ID<TAB>module@found<TAB>fixed<TAB>summary<TAB>example trace.
python3 - "$work/govuln.json" >"$work/govuln.tsv" <<'EOF'
import json, sys
dec = json.JSONDecoder()
text = open(sys.argv[1]).read()
osv, called, i = {}, {}, 0
while i < len(text):
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    obj, i = dec.raw_decode(text, i)
    if "osv" in obj:
        osv[obj["osv"]["id"]] = obj["osv"]
    f = obj.get("finding")
    if f and f.get("trace") and f["trace"][0].get("function"):
        t = f["trace"][0]
        where = t.get("module", "")
        if t.get("version"):
            where += "@" + t["version"]
        step = " <- ".join(
            (s.get("package", "") + "." + (s.get("receiver", "") + "." if s.get("receiver") else "") + s.get("function", ""))
            for s in f["trace"][:3])
        called.setdefault(f["osv"], (where, f.get("fixed_version", "none"), step))
for vid, (where, fixed, step) in sorted(called.items()):
    summary = osv.get(vid, {}).get("summary", "").replace("\t", " ")
    print("\t".join([vid, where, fixed, summary, step]))
EOF
while IFS=$'\t' read -r id where fixed summary step; do
	findings=$((findings + 1))
	if justified "$id"; then mark="justified"; else mark="NOT JUSTIFIED"; unjustified+=("$id"); fi
	printf '%-14s %-13s %s (fixed in %s): %s\n    reached: %s\n' "$id" "[$mark]" "$where" "$fixed" "$summary" "$step"
done <"$work/govuln.tsv"
echo "govulncheck: $(wc -l <"$work/govuln.tsv") vulnerabilities reached by the code"

if [[ -f webapp/package.json ]]; then
	echo "--- npm audit --omit=dev (webapp)"
	if [[ ! -f webapp/package-lock.json ]]; then
		echo "webapp/package-lock.json is missing: npm audit needs it"
		unjustified+=("npm:no-lockfile")
	else
		(cd webapp && npm audit --omit=dev --json >"$work/npm.json" 2>"$work/npm.err") || true
		if ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/npm.json" 2>/dev/null; then
			echo "npm audit did not answer:"; cat "$work/npm.err" "$work/npm.json" | head -20
			unjustified+=("npm:audit-failed")
		else
			# One line per advisory: ID<TAB>package<TAB>severity<TAB>title<TAB>range.
			python3 - "$work/npm.json" >"$work/npm.tsv" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
seen = set()
for name, v in sorted(d.get("vulnerabilities", {}).items()):
    for via in v.get("via", []):
        if isinstance(via, dict):
            vid = via.get("url", "").rsplit("/", 1)[-1] or "npm:" + name
            if vid in seen:
                continue
            seen.add(vid)
            print("\t".join([vid, name, via.get("severity", ""), via.get("title", "").replace("\t", " "), via.get("range", "")]))
EOF
			while IFS=$'\t' read -r id pkg sev title range; do
				findings=$((findings + 1))
				if justified "$id" || justified "npm:$pkg"; then mark="justified"; else mark="NOT JUSTIFIED"; unjustified+=("$id"); fi
				printf '%-22s %-13s %s %s (%s): %s\n' "$id" "[$mark]" "$pkg" "$range" "$sev" "$title"
			done <"$work/npm.tsv"
			echo "npm audit: $(wc -l <"$work/npm.tsv") advisories in production dependencies"
		fi
	fi
fi

echo
echo "security: $findings findings, ${#unjustified[@]} not justified in scripts/security-exceptions.txt ($((SECONDS - t0))s)"
if ((${#unjustified[@]} > 0)); then
	printf 'not justified: %s\n' "${unjustified[*]}"
	exit 1
fi
