#!/usr/bin/env bash
# Load test: Locust headless against vacunometro, then check that /api/stats
# accounts for every accepted record exactly once. What `make load` runs.
#
#   scripts/load.sh                          # starts bin/vacunometro up on a free port, fresh data dir
#   LOAD_HOST=https://ingest-xyz.a.run.app scripts/load.sh   # targets a deployed ingest instead
#
# Environment (defaults in brackets):
#   USERS [20]  SPAWN_RATE [10]  DURATION [30s]   Locust users, spawn rate, run time
#   LOAD_HOST   target base URL; when set nothing is started locally
#   VAC_PRODUCER_KEY  the producer key Locust sends [the local up's DATA/producer-key];
#               required with LOAD_HOST (`vacunometro producers add load` makes one)
#   STATS_URL   where GET /api/stats answers [$LOAD_HOST, or the local server]
#   OUT         CSV output directory [loadtest/out]
#   SETTLE      seconds to wait for /api/stats to catch up after the run [60]
#   BIN         the binary to start [bin/vacunometro]
#   LOCUST      the locust command [/usr/bin/locust, else locust on PATH]
#   VAC_SYNTHETIC [1]  1: Locust marks its records synthetic (counted apart, in no public figure),
#               and /api/stats "synthetic" is what must grow; 0: real records, "total" grows
# Exit status: 0 when no valid request failed and /api/stats grew by exactly the
# number of records accepted (202 ids; client ids counted once) and, for synthetic
# records against the local server, the public total did not move; 1 otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

USERS=${USERS:-20}
SPAWN_RATE=${SPAWN_RATE:-10}
DURATION=${DURATION:-30s}
OUT=${OUT:-loadtest/out}
SETTLE=${SETTLE:-60}
BIN=${BIN:-bin/vacunometro}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if [ -z "${LOCUST:-}" ]; then
	if [ -x /usr/bin/locust ]; then LOCUST=/usr/bin/locust; else LOCUST=locust; fi
fi

log() { printf 'load: %s\n' "$*" >&2; }
die() { log "FAIL: $*"; printf 'load: FAIL %s\n' "$*"; exit 1; }

command -v "$LOCUST" >/dev/null || die "locust not found (apt-get install -y python3-locust)"
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vac-load.XXXXXX")
UP_PID=""

cleanup() {
	local rc=$?
	if [ -n "$UP_PID" ] && kill -0 "$UP_PID" 2>/dev/null; then
		log "stopping vacunometro up (pid $UP_PID)"
		kill -TERM "$UP_PID" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.2; done
		if kill -0 "$UP_PID" 2>/dev/null; then
			log "pid $UP_PID still running after 20 s; killing its process group"
			kill -KILL -- "-$UP_PID" 2>/dev/null || true
		fi
		wait "$UP_PID" 2>/dev/null || true
	fi
	# Children of `up` (e.g. a redis-server) share its process group.
	if [ -n "$UP_PID" ]; then kill -TERM -- "-$UP_PID" 2>/dev/null || true; fi
	if [ -f "$WORK/up.log" ]; then cp "$WORK/up.log" "$OUT/up.log"; fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# json_field URL FIELD: prints FIELD of the JSON object at URL (empty on error).
json_field() {
	curl -fsS --max-time 5 "$1" 2>/dev/null |
		"$PY" -c 'import json,sys
try: print(json.load(sys.stdin)[sys.argv[1]])
except Exception: pass' "$2"
}

if [ -n "${LOAD_HOST:-}" ]; then
	URL=${LOAD_HOST%/}
	log "target $URL (LOAD_HOST; nothing started locally)"
	[ -n "${VAC_PRODUCER_KEY:-}" ] || die "LOAD_HOST needs VAC_PRODUCER_KEY (a producer key: vacunometro producers add NAME)"
else
	[ -x "$BIN" ] || die "$BIN not found; run 'make build' first"
	PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	URL="http://127.0.0.1:$PORT"
	mkdir -p "$WORK/data"
	log "starting $BIN up --addr 127.0.0.1:$PORT --data $WORK/data (log: $OUT/up.log)"
	# Its own session and process group, so that whatever it starts can be stopped with it.
	setsid "$BIN" up --addr "127.0.0.1:$PORT" --data "$WORK/data" >"$WORK/up.log" 2>&1 &
	UP_PID=$!
fi
STATS_URL=${STATS_URL:-$URL}

log "waiting for $URL/readyz"
for i in $(seq 1 120); do
	if curl -fsS --max-time 2 -o /dev/null "$URL/readyz" 2>/dev/null; then break; fi
	if [ -n "$UP_PID" ] && ! kill -0 "$UP_PID" 2>/dev/null; then
		tail -n 30 "$WORK/up.log" >&2 || true
		die "vacunometro up exited before it was ready"
	fi
	[ "$i" -eq 120 ] && die "$URL/readyz not ready after 60 s"
	sleep 0.5
done

if [ -z "${VAC_PRODUCER_KEY:-}" ] && [ -n "$UP_PID" ]; then
	# `up` made its producer "local" and keeps the key here (0600).
	VAC_PRODUCER_KEY=$(cat "$WORK/data/producer-key")
fi
export VAC_PRODUCER_KEY

export VAC_SYNTHETIC=${VAC_SYNTHETIC:-1}
FIELD=total
[ "$VAC_SYNTHETIC" = "0" ] || FIELD=synthetic
BASE=$(json_field "$STATS_URL/api/stats" "$FIELD")
[ -n "$BASE" ] || die "GET $STATS_URL/api/stats gave no $FIELD"
PUBLIC_BASE=$(json_field "$STATS_URL/api/stats" total)
log "ready; /api/stats $FIELD before the run: $BASE"

ACCEPTED_FILE="$OUT/accepted.txt"
rm -f "$ACCEPTED_FILE" "$OUT"/locust_*.csv
log "locust: $USERS users, spawn rate $SPAWN_RATE/s, for $DURATION -> $OUT/locust_*.csv"
set +e
VAC_ACCEPTED_FILE="$ACCEPTED_FILE" "$LOCUST" --headless --only-summary \
	-u "$USERS" -r "$SPAWN_RATE" -t "$DURATION" --stop-timeout 30 \
	--host "$URL" -f loadtest/locustfile.py --csv "$OUT/locust" \
	--loglevel WARNING 2>&1 | tee "$OUT/locust.log" | sed -n '/^Type /,$p' >&2
LOCUST_RC=${PIPESTATUS[0]}
set -e

[ -s "$ACCEPTED_FILE" ] || die "locust wrote no accepted count ($ACCEPTED_FILE); see $OUT/locust.log"
read -r ACCEPTED UNANSWERED <"$ACCEPTED_FILE"
UNANSWERED=${UNANSWERED:-0}
EXPECT=$((BASE + ACCEPTED))
# Requests Locust stopped mid-flight at the end got no answer: the server may have stored them.
MOST=$((EXPECT + UNANSWERED))

# Wait until the pipeline has stored and counted everything, or the total stops moving.
log "accepted $ACCEPTED records; waiting for /api/stats $FIELD to reach $EXPECT"
last="" still=0 total=""
for _ in $(seq 1 $((SETTLE * 2))); do
	total=$(json_field "$STATS_URL/api/stats" "$FIELD")
	if [ -n "$total" ] && [ "$total" -ge "$EXPECT" ] && [ "$total" -le "$MOST" ] && [ "$total" = "$last" ]; then break; fi
	if [ -n "$total" ] && [ "$total" = "$last" ]; then still=$((still + 1)); else still=0; fi
	[ "$still" -ge 20 ] && break # unchanged for 10 s
	last=$total
	sleep 0.5
done
# A total that overshoots later would mean double counting: look once more.
sleep 2
total=$(json_field "$STATS_URL/api/stats" "$FIELD")
public=$(json_field "$STATS_URL/api/stats" total)

# Aggregated row of the CSV: requests, failures, rps, p95 (the CSV can lag the summary slightly).
read -r REQS FAILS RPS P95 < <("$PY" - "$OUT/locust_stats.csv" <<'EOF'
import csv, sys
try:
    rows = list(csv.DictReader(open(sys.argv[1])))
    agg = next(r for r in rows if r["Name"] == "Aggregated")
    print(agg["Request Count"], agg["Failure Count"], "%.1f" % float(agg["Requests/s"]), agg.get("95%", "?"))
except Exception:
    print("? ? ? ?")
EOF
)

SUMMARY="users=$USERS duration=$DURATION requests=$REQS failures=$FAILS req_per_s=$RPS p95_ms=$P95 accepted=$ACCEPTED unanswered=$UNANSWERED ${FIELD}_delta=$((${total:-0} - BASE))"
if [ "$LOCUST_RC" -ne 0 ] || { [ "$FAILS" != "?" ] && [ "$FAILS" != "0" ]; }; then
	grep -A20 '^Error report' "$OUT/locust.log" >&2 || true
	die "requests failed (locust exit $LOCUST_RC); $SUMMARY"
fi
[ -n "$total" ] || die "GET $STATS_URL/api/stats failed after the run; $SUMMARY"
if [ "$total" -lt "$EXPECT" ] || [ "$total" -gt "$MOST" ]; then
	die "/api/stats $FIELD $total, want $EXPECT ($BASE before + $ACCEPTED accepted, + at most $UNANSWERED sent and never answered); $SUMMARY"
fi
# Test records never reach the public figures: against our own server (no other traffic), the
# public total must not have moved.
if [ "$FIELD" = synthetic ] && [ -z "${LOAD_HOST:-}" ] && [ "$public" != "$PUBLIC_BASE" ]; then
	die "/api/stats total moved from $PUBLIC_BASE to $public during a synthetic load; $SUMMARY"
fi
printf 'load: OK %s\n' "$SUMMARY"
