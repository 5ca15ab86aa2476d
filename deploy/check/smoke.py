#!/usr/bin/env python3
"""Smoke check of a deployed vacunometro (Python standard library only).

Cloud Build runs it against the tag URLs of new revisions (with --post) and against the live URLs
after each traffic step (read-only). It also works against a local `vacunometro up`:

    python3 deploy/check/smoke.py --post --ingest http://127.0.0.1:8080 --realtime http://127.0.0.1:8080

With --post it sends one synthetic record (a test record: stored and counted apart, never in the public
figures) with a fixed id to the ingest, expects 202 naming that id, then reads /api/stats of the ingest
and of the realtime tier until their count of synthetic records has grown past the one read before,
and checks that the record is not among the public latest ones.
Without --post it reads /ready and /api/stats a few times from each URL (so that, with traffic
split between two revisions, both are hit) and checks that the snapshot is well formed.
Exit status 0 when every check passed; the last line is a summary.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

RECORD = {
    "name": "Prueba De Humo Despliegue",
    "location": "Guatemala",
    "age": 30,
    "vaccine_type": "Moderna",
    "n_dose": 1,
    # A release's smoke record must never reach the public figures (issue 11, item 11).
    "synthetic": True,
}


class Check:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, what):
        self.passed += 1
        print(f"ok   {what}", flush=True)

    def fail(self, what):
        self.failed += 1
        print(f"FAIL {what}", flush=True)


def request(method, url, body=None, timeout=15.0):
    """Returns (status, text); a connection error is status 0."""
    data = None
    headers = {"User-Agent": "vacunometro-smoke"}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
        # Posting records needs a producer key (Cloud Build: from Secret Manager).
        key = os.environ.get("VAC_PRODUCER_KEY", "").strip()
        if key:
            headers["Authorization"] = "Bearer " + key
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


def wait_ready(check, base, deadline):
    # /ready, not /readyz: Cloud Run may answer its own 404 from outside for paths ending in "z".
    url = base.rstrip("/") + "/ready"
    last = None
    while time.monotonic() < deadline:
        status, text = request("GET", url)
        if status == 200:
            check.ok(f"GET {url} -> 200")
            alive = base.rstrip("/") + "/health"
            status, text = request("GET", alive)
            if status != 200:
                check.fail(f"GET {alive} -> {status} {text[:200]}")
                return False
            check.ok(f"GET {alive} -> 200")
            return True
        last = (status, text[:200])
        time.sleep(1)
    check.fail(f"GET {url} never answered 200 (last: {last})")
    return False


def stats(base):
    status, text = request("GET", base.rstrip("/") + "/api/stats")
    if status != 200:
        return None, f"status {status}: {text[:200]}"
    try:
        snap = json.loads(text)
    except ValueError as e:
        return None, f"not JSON: {e}"
    problems = []
    if not isinstance(snap.get("total"), int):
        problems.append("no integer total")
    if len(snap.get("departments") or []) != 22:
        problems.append("departments is not a list of 22")
    if not isinstance(snap.get("latest"), list):
        problems.append("no latest list")
    if not isinstance(snap.get("synthetic"), int):
        problems.append("no integer synthetic count")
    if problems:
        return None, ", ".join(problems)
    return snap, None


def post_and_read_back(check, ingest, realtime, rec_id, deadline):
    before = {}
    for base in (ingest, realtime):
        snap, err = stats(base)
        if snap is None:
            check.fail(f"GET {base.rstrip('/')}/api/stats before posting: {err}")
            return
        before[base] = snap["synthetic"]
    record = dict(RECORD, id=rec_id)
    url = ingest.rstrip("/") + "/api/records"
    status, text = request("POST", url, record)
    if status != 202:
        check.fail(f"POST {url} -> {status}, want 202: {text[:200]}")
        return
    try:
        ids = json.loads(text).get("ids")
    except ValueError:
        ids = None
    if ids != [rec_id]:
        check.fail(f"POST {url} -> 202 but ids={ids!r}, want [{rec_id!r}]")
        return
    check.ok(f"POST {url} -> 202 ids=[{rec_id}] (synthetic)")
    for base in (ingest, realtime):
        seen, last = False, None
        while time.monotonic() < deadline:
            snap, err = stats(base)
            if snap is not None and any(r.get("id") == rec_id for r in snap["latest"]):
                check.fail(f"GET {base.rstrip('/')}/api/stats shows the synthetic {rec_id} among the public latest records")
                return
            if snap is not None and snap["synthetic"] > before[base]:
                seen = True
                break
            last = err or f"synthetic={snap['synthetic']} (before: {before[base]}), total={snap['total']}"
            time.sleep(0.5)
        if seen:
            check.ok(f"GET {base.rstrip('/')}/api/stats counted the synthetic record apart (synthetic {before[base]} -> {snap['synthetic']})")
        else:
            check.fail(f"GET {base.rstrip('/')}/api/stats never counted {rec_id} (last: {last})")


def read_only(check, bases, reads):
    for base in bases:
        bad = []
        for _ in range(reads):
            snap, err = stats(base)
            if snap is None:
                bad.append(err)
        if bad:
            check.fail(f"GET {base.rstrip('/')}/api/stats: {len(bad)}/{reads} bad: {bad[0]}")
        else:
            check.ok(f"GET {base.rstrip('/')}/api/stats: {reads}/{reads} well-formed snapshots")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ingest", required=True, help="base URL of the ingest")
    p.add_argument("--realtime", required=True, help="base URL of the realtime tier (dashboard)")
    p.add_argument("--post", action="store_true", help="post a record and read it back")
    p.add_argument("--id", default="smoke-%d" % int(time.time()), help="record id for --post")
    p.add_argument("--timeout", type=float, default=90, help="seconds for everything")
    p.add_argument("--reads", type=int, default=10, help="reads per URL without --post")
    a = p.parse_args(argv)

    check = Check()
    deadline = time.monotonic() + a.timeout
    ready = all([wait_ready(check, a.ingest, deadline), wait_ready(check, a.realtime, deadline)])
    if ready:
        if a.post:
            post_and_read_back(check, a.ingest, a.realtime, a.id, deadline)
        else:
            read_only(check, [a.ingest, a.realtime], a.reads)
    print(f"smoke: {check.passed} passed, {check.failed} failed")
    return 0 if check.failed == 0 and check.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
