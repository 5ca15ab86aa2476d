"""Locust load test for vacunometro (Locust 2.x; standard library only).

Run it through `make load` (scripts/load.sh), or by hand:

    locust --headless -u 20 -r 10 -t 30s --host http://127.0.0.1:8080 \
        -f loadtest/locustfile.py --csv loadtest/out/locust --only-summary

What each simulated user does (weights in brackets):
  [8] post_single   one record to "/" like the seed's Locust file did;
  [2] post_batch    10-100 records to /api/records as a JSON array, or as NDJSON;
  [1] post_invalid  one deliberately invalid record: 422 is the right answer;
  [1] post_twice    one record with a client id, sent twice: both 202 with that id,
                    counted once (idempotency).
A 202 must carry "ids" with one id per record sent, else the request is a failure.
A request whose records are all valid fails on any status but 202; one that
carries an invalid record fails on any status but 422.

Every record sent is marked "synthetic": true (a test record: stored and counted
apart, in no public figure), so that a load test against production never
changes the country's numbers; VAC_SYNTHETIC=0 sends them as real records.

Environment:
  VAC_PRODUCER_KEY   the producer key sent as Authorization: Bearer (required by the
                     ingest; `up` keeps the key of its producer "local" in DATA/producer-key)
  VAC_PRODUCER_KEY_FILE  or a file holding it
  VAC_TRAFFIC        traffic file (default: traffic.json next to this file)
  VAC_SYNTHETIC      1 (default): mark every record synthetic; 0: real records
  VAC_ACCEPTED_FILE  at test stop, write "ACCEPTED UNANSWERED" here: distinct accepted records,
                     and records of requests sent but never answered (stopped mid-flight)
  VAC_WAIT_MIN/MAX   seconds between tasks per user (default 0.1 / 0.5)
  VAC_BATCH_MIN/MAX  batch size bounds (default 10 / 100)

The accepted count is kept per Locust process; run the local runner (no
--master/--worker) when you use VAC_ACCEPTED_FILE.
"""

import json
import logging
import os
import random
import threading
import uuid

from locust import FastHttpUser, between, events, task

HERE = os.path.dirname(os.path.abspath(__file__))


def _producer_auth():
    """The Authorization header of the producer key (VAC_PRODUCER_KEY or _FILE)."""
    key = os.environ.get("VAC_PRODUCER_KEY", "").strip()
    path = os.environ.get("VAC_PRODUCER_KEY_FILE", "")
    if not key and path:
        with open(path, encoding="utf-8") as f:
            key = f.read().strip()
    if not key:
        logging.warning("no VAC_PRODUCER_KEY: the ingest answers every post 401")
        return {}
    return {"Authorization": "Bearer " + key}


AUTH = _producer_auth()
JSON_HEADERS = {"Content-Type": "application/json", **AUTH}
NDJSON_HEADERS = {"Content-Type": "application/x-ndjson", **AUTH}


def _env_float(name, default):
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return float(default)


def _env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return int(default)


def load_traffic(path):
    """Returns (valid, invalid): records with the '_' metadata keys stripped."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    records = doc["records"] if isinstance(doc, dict) else doc
    valid, invalid = [], []
    for rec in records:
        clean = {k: v for k, v in rec.items() if not k.startswith("_")}
        (invalid if rec.get("_invalid") else valid).append(clean)
    if not valid:
        raise SystemExit(f"{path}: no valid records")
    return valid, invalid


class Tally:
    """Counts distinct accepted records (sum of ids over 202s, client ids once)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.generated = 0
        self.client_ids = set()
        self.invalid_refused = 0
        # Records of requests sent and never answered (a user stopped mid-request at
        # the end of the run): the server may have stored them without anyone seeing
        # the 202, so the count may exceed the accepted by at most this many.
        self.unanswered = 0

    def accept(self, ids, client_ids=False):
        with self._lock:
            if client_ids:
                self.client_ids.update(ids)
            else:
                self.generated += len(ids)

    def refused(self):
        with self._lock:
            self.invalid_refused += 1

    def sending(self, n):
        with self._lock:
            self.unanswered += n

    def answered(self, n):
        with self._lock:
            self.unanswered -= n

    def total(self):
        with self._lock:
            return self.generated + len(self.client_ids)


TRAFFIC = os.environ.get("VAC_TRAFFIC", os.path.join(HERE, "traffic.json"))
VALID, INVALID = load_traffic(TRAFFIC)
if os.environ.get("VAC_SYNTHETIC", "1") != "0":
    VALID = [dict(r, synthetic=True) for r in VALID]
    INVALID = [dict(r, synthetic=True) for r in INVALID]
TALLY = Tally()
BATCH_MIN = max(1, _env_int("VAC_BATCH_MIN", 10))
BATCH_MAX = max(BATCH_MIN, _env_int("VAC_BATCH_MAX", 100))


def _write_accepted(**_kwargs):
    path = os.environ.get("VAC_ACCEPTED_FILE")
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{TALLY.total()} {TALLY.unanswered}\n")
    os.replace(tmp, path)
    logging.info("accepted records: %d (invalid refused with 422: %d, unanswered: %d) -> %s",
                 TALLY.total(), TALLY.invalid_refused, TALLY.unanswered, path)


events.test_stop.add_listener(_write_accepted)
events.quitting.add_listener(_write_accepted)


def _json(resp):
    try:
        return json.loads(resp.text or "")
    except ValueError:
        return None


def check_accepted(resp, n, expect_ids=None):
    """Marks resp a success when it is a 202 with n ids; returns the ids or None."""
    if resp.status_code != 202:
        resp.failure(f"status {resp.status_code}, want 202: {(resp.text or '')[:200]}")
        return None
    body = _json(resp)
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or len(ids) != n:
        got = len(ids) if isinstance(ids, list) else "no"
        resp.failure(f"202 with {got} ids for {n} records")
        return None
    if not all(isinstance(i, str) and i for i in ids) or len(set(ids)) != n:
        resp.failure("202 with empty or repeated ids")
        return None
    if body.get("accepted") not in (None, n):
        resp.failure(f"202 says accepted={body.get('accepted')} for {n} records")
        return None
    if expect_ids is not None and ids != expect_ids:
        resp.failure(f"202 ids {ids} differ from the client ids {expect_ids}")
        return None
    resp.success()
    return ids


def check_refused(resp, index=None):
    """Marks resp a success when it is a 422 naming the bad record."""
    if resp.status_code != 422:
        resp.failure(f"invalid record: status {resp.status_code}, want 422: {(resp.text or '')[:200]}")
        return
    body = _json(resp)
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        resp.failure("422 without an errors list")
        return
    if index is not None and not any(isinstance(e, dict) and e.get("index") == index for e in errors):
        resp.failure(f"422 does not name the bad index {index}: {errors[:3]}")
        return
    resp.success()
    TALLY.refused()


class VaccinationClient(FastHttpUser):
    """A health-post system reporting vaccinations."""

    wait_time = between(_env_float("VAC_WAIT_MIN", 0.1), _env_float("VAC_WAIT_MAX", 0.5))

    @task(8)
    def post_single(self):
        rec = random.choice(VALID)
        TALLY.sending(1)
        with self.client.post("/", data=json.dumps(rec), headers=JSON_HEADERS,
                              name="/ [single]", catch_response=True) as resp:
            TALLY.answered(1)
            ids = check_accepted(resp, 1)
            if ids:
                TALLY.accept(ids)

    @task(2)
    def post_batch(self):
        batch = random.choices(VALID, k=random.randint(BATCH_MIN, BATCH_MAX))
        if random.random() < 0.25:
            body = "\n".join(json.dumps(r) for r in batch) + "\n"
            headers, name = NDJSON_HEADERS, "/api/records [ndjson batch]"
        else:
            body = json.dumps(batch)
            headers, name = JSON_HEADERS, "/api/records [batch]"
        TALLY.sending(len(batch))
        with self.client.post("/api/records", data=body, headers=headers,
                              name=name, catch_response=True) as resp:
            TALLY.answered(len(batch))
            ids = check_accepted(resp, len(batch))
            if ids:
                TALLY.accept(ids)

    @task(1)
    def post_invalid(self):
        if not INVALID:
            return
        bad = random.choice(INVALID)
        if random.random() < 0.5:
            with self.client.post("/", data=json.dumps(bad), headers=JSON_HEADERS,
                                  name="/ [invalid]", catch_response=True) as resp:
                check_refused(resp, 0)
            return
        # One bad record spoils the whole batch: nothing of it may be stored.
        batch = random.choices(VALID, k=random.randint(BATCH_MIN, BATCH_MAX))
        at = random.randrange(len(batch) + 1)
        batch.insert(at, bad)
        with self.client.post("/api/records", data=json.dumps(batch), headers=JSON_HEADERS,
                              name="/api/records [batch with invalid]", catch_response=True) as resp:
            check_refused(resp, at)

    @task(1)
    def post_twice(self):
        rec = dict(random.choice(VALID))
        rec["id"] = "lt-" + uuid.uuid4().hex
        for attempt in ("first", "retry"):
            TALLY.sending(1)
            with self.client.post("/api/records", data=json.dumps(rec), headers=JSON_HEADERS,
                                  name=f"/api/records [client id, {attempt}]", catch_response=True) as resp:
                TALLY.answered(1)
                ids = check_accepted(resp, 1, expect_ids=[rec["id"]])
                if ids:
                    TALLY.accept(ids, client_ids=True)
