"""Fuzz every ingest endpoint and `flask ingest import` with hostile input (hypothesis).

Properties, whatever arrives:
- an endpoint never answers 500; when it answers 4xx no table changed (and no beacon was queued);
  a 2xx sent again stores nothing new; a queued beacon that was answered 200 is stored by the drain,
  never parked as unreadable;
- an import never ends in a traceback; its rejected lines store nothing: the lines it kept, imported
  alone into a second registration, add exactly the rows the whole file added, and none is rejected.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import uuid

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from lti_tool.extensions import db as _db
from lti_tool.ingest import beacon_queue, player_tokens, tokens
from lti_tool.ingest.kava import PARAMS_READ
from lti_tool.registrations import RegistrationInput, upsert
from lti_tool.store import get_store

from ..rooms.test_room_ingest import SESSION as ROOM_EVENTS
from ..support.hostile import FUZZ, documents, dumps, examples, json_values, mutate, mutations, texts, url_part
from ..support.rows import row_counts
from .dataset import EVENTS
from .test_standards import VIDEO, envelope, media_event, statement

PARTNER = "2503451"
GOOD_TIME = "2026-10-05T10:00:00Z"
NATIVE = {"id": "n1", "type": "play", "time": GOOD_TIME, "entry_id": "1_e1", "user": "sub:ana", "play_id": "p1",
          "load_id": "l1", "seq": 1, "position": 12.5, "seconds_viewed": 10, "segments": [[0, 10]], "seek_to": 3,
          "playback_type": "vod", "playback_context": "gallery-1", "page_url": "https://canvas.test.edu/courses/1",
          "user_agent": "Mozilla/5.0", "ip": "8.8.8.8", "duration": 100, "entry_name": "Week 1",
          "media_type": "video", "extra": {"note": "x"}, "location": {"country": "US", "region": "MN", "city": "X"}}
CALIPER = envelope(media_event("Started", "10:00:00", "PT5S",
                               referrer={"id": "https://canvas.test.edu/courses/1", "type": "WebPage"}),
                   media_event("Paused", "10:00:30", "PT35S"))
XAPI = [statement("http://adlnet.gov/expapi/verbs/initialized", "10:00:00", session="s1"),
        statement("https://w3id.org/xapi/video/verbs/played", "10:00:01", session="s1", time=0.0),
        statement("https://w3id.org/xapi/video/verbs/paused", "10:00:13", session="s1", time=12.0,
                  played_segments="0.000[.]12.000")]
ENTRY = {"name": "Week 1", "media_type": "video", "duration": 600, "tags": ["week1"],
         "created_at": "2026-09-01T12:00:00Z", "owner": "sub:teacher", "coeditors": ["login:ta1"]}
CATEGORY = {"name": "Gallery", "kind": "gallery", "members": ["1_e1", "1_e2"]}
JSON_ENDPOINTS = {
    "events": ("POST", "/api/v1/events", {"version": 1, "events": [EVENTS[0], NATIVE]}),
    "caliper": ("POST", "/api/v1/caliper", CALIPER),
    "xapi": ("POST", "/api/v1/xapi/statements", XAPI),
    "room-events": ("POST", "/api/v1/room-events", {"version": 1, "events": ROOM_EVENTS}),
    "entries": ("PUT", "/api/v1/entries/", ENTRY),
    "categories": ("PUT", "/api/v1/categories/", CATEGORY),
    "player-tokens": ("POST", "/api/v1/player-tokens", {"user": "sub:ana", "ttl": 60}),
}
BEACON = {"service": "analytics", "action": "trackEvent", "eventType": "99", "partnerId": PARTNER,
          "entryId": "1_lecture", "sessionId": "5d1f0c6e-7a43", "eventIndex": "4", "position": "10.5",
          "playTimeSum": "10", "targetPosition": "12", "playbackType": "live", "playbackContext": "gallery-1",
          "referrer": "https://canvas.test.edu/courses/7", "errorCode": "42", "soundMode": "2", "tabMode": "2",
          "screenMode": "1", "deliveryType": "hls", "clientVer": "3.17.4"}
# How many examples each test runs (the whole file stays within a couple of minutes).
EXAMPLES = {name: examples(count) for name, count in {"json": 100, "catalog-id": 60, "kava": 300, "import": 40}.items()}


@pytest.fixture
def fuzz_app(app, monkeypatch):
    """No rate limit: the fuzz sends far more than a real client would in a minute."""
    monkeypatch.setitem(app.config, "INGEST_RATE_LIMIT_PER_MINUTE", 10**9)
    return app


@pytest.fixture
def auth(registration, fuzz_app):
    _token, secret = tokens.create(registration.id, "fuzz")
    return {"Authorization": f"Bearer {secret}"}


def check(client, send, *, queue_length=None) -> int:
    """Send; never a 500; on a 4xx nothing changed; a 2xx sent again adds nothing. Returns the status."""
    before = row_counts(_db)
    queued = queue_length() if queue_length else None
    response = send()
    assert response.status_code < 500, response.text[:500]
    event(f"answered {response.status_code // 100}xx")
    if 300 <= response.status_code < 500:  # refused, or redirected (an id such as ".." in the address)
        assert row_counts(_db) == before, response.text[:300]
        if queue_length:
            assert queue_length() == queued
        return response.status_code
    assert response.status_code < 300, response.status_code
    if not queue_length:  # a queued beacon is stored by the drain (see test_kava_fuzz)
        after = row_counts(_db)
        again = send()
        assert again.status_code < 300, again.text[:300]
        assert row_counts(_db) == after, "a 2xx sent again stored something new"
    return response.status_code


@pytest.mark.parametrize("name", list(JSON_ENDPOINTS))
@settings(FUZZ, max_examples=EXAMPLES["json"])
@given(data=st.data())
def test_json_endpoints_fuzz(client, auth, name, data):
    method, path, template = JSON_ENDPOINTS[name]
    body = data.draw(documents(template), label="body")
    if path.endswith("/"):  # the catalog: the id in the address is fuzzed too
        path += url_part(data.draw(texts, label="id") or "x")
    _db.session.remove()  # each request its own database session, as in production
    check(client, lambda: client.open(path, method=method, data=body,
                                          headers={**auth, "Content-Type": "application/json"}))


@settings(FUZZ, max_examples=EXAMPLES["catalog-id"])
@given(kind=st.sampled_from(["entries", "categories"]), external_id=texts)
def test_catalog_ids_in_the_address_fuzz(client, auth, kind, external_id):
    url = f"/api/v1/{kind}/{url_part(external_id)}"
    _db.session.remove()
    check(client, lambda: client.put(url, json={"name": "Week 1"}, headers=auth))
    response = client.get(url, headers=auth)
    assert response.status_code < 500, response.text[:300]


# -- Kava beacons: GET, form POST and JSON POST, stored in the request or queued ------------------------

beacon_changes = st.lists(st.tuples(st.sampled_from((*PARAMS_READ, "partnerId", "ks", "service", "action", "x")) | texts,
                                    st.sampled_from(("set", "set", "delete")), st.one_of(texts, json_values)),
                          max_size=4)


@pytest.fixture
def partner(db, registration, fuzz_app):
    """The id of the registration, which takes anonymous beacons from its players' partnerId."""
    registration.player_partner_id = PARTNER
    registration.allow_anonymous_beacons = True
    db.session.commit()
    return registration.id


def _as_text(value) -> str:
    return value if isinstance(value, str) else dumps(value)


@settings(FUZZ, max_examples=EXAMPLES["kava"])
@given(changes=beacon_changes, how=st.sampled_from(("get", "form", "json")), queued=st.booleans(),
       signed=st.booleans())
def test_kava_fuzz(client, app, partner, monkeypatch, changes, how, queued, signed):
    params = dict(BEACON, sessionId=f"s-{uuid.uuid4()}")
    if signed:
        params["ks"] = player_tokens.mint(partner, "sub:viewer", 3600)[0]
    for name, action, value in changes:
        if action == "delete":
            params.pop(name, None)
        else:
            params[name] = value if how == "json" else _as_text(value)
    monkeypatch.setitem(app.config, "BEACON_QUEUE", queued)
    redis = get_store().client
    query = "&".join(f"{url_part(k)}={url_part(_as_text(v))}" for k, v in params.items())

    def send():
        _db.session.remove()
        if how == "get":
            return client.get(f"/api/v1/kava?{query}")
        if how == "form":
            return client.post("/api/v1/kava", data=query, content_type="application/x-www-form-urlencoded")
        return client.post("/api/v1/kava", data=dumps(params), content_type="application/json")

    status = check(client, send, queue_length=(lambda: beacon_queue.waiting(redis)) if queued else None)
    if queued and status < 300:
        before = row_counts(_db)
        result = beacon_queue.drain()
        assert (result.taken, result.rejected) == (1, 0), result  # answered 200: stored, never parked
        assert redis.llen(beacon_queue.FAILED_KEY) == 0
        if result.accepted:
            assert row_counts(_db) != before


# -- flask ingest import: every format ----------------------------------------------------------------

# Each example imports its own events: SALT in their ids becomes a number of its own.
SALT = "5a175a175a17"
_examples = itertools.count(1)
ROOM_REFERENCES = ("id", "session", "room", "join", "interaction", "parent", "reply_to")
ROOM_LINES = [json.dumps({k: f"{v}-{SALT}" if k in ROOM_REFERENCES else v for k, v in event.items()})
              for event in ROOM_EVENTS]
CSV_COLUMNS = [c for c in NATIVE if c not in ("segments", "extra", "location")] + ["segments", "extra"]


def _csv_row(event: dict) -> dict:
    return {c: (json.dumps(event[c]) if c in ("segments", "extra") else str(event[c])) if c in event else ""
            for c in CSV_COLUMNS}


def _native(n: int) -> dict:
    return dict(NATIVE, id=f"line-{n}-{SALT}", play_id=f"p-{n % 3}-{SALT}")


def _beacon_line(n: int) -> str:
    beacon = dict(BEACON, eventIndex=str(n + 1), received_at=f"2026-10-05T10:00:{n:02d}Z", user="sub:viewer",
                  sessionId=f"s-{SALT}")
    return "&".join(f"{k}={url_part(v)}" for k, v in beacon.items())


def _lines(good: list[str]):
    """A file's lines: the good ones, some mutated into something else, some hostile lines added."""
    def one(line: str):
        return st.one_of(st.just(line), st.just(line), documents(json.loads(line)) if line.startswith(("{", "["))
                         else beacon_changes.map(lambda changes: _mutated_query(line, changes)))
    return st.tuples(*[one(line) for line in good]).flatmap(
        lambda kept: st.lists(documents({}), max_size=2).flatmap(
            lambda added: st.permutations(list(kept) + added) if len(added) else st.just(list(kept))))


def _mutated_query(line: str, changes) -> str:
    params = dict(pair.split("=", 1) for pair in line.split("&"))
    for name, action, value in changes:
        if action == "delete":
            params.pop(url_part(name), None)
        else:
            params[url_part(name)] = url_part(_as_text(value))
    return "&".join(f"{k}={v}" for k, v in params.items())


IMPORT_FILES = {
    "jsonl": [json.dumps(_native(n)) for n in range(4)],
    "kava": [_beacon_line(n) for n in range(4)],
    "caliper": [json.dumps(envelope(*[dict(event, id=f"urn:uuid:00000000-0000-4000-8000-{SALT}")
                                      for event in CALIPER["data"][:1]]))],
    "xapi": [json.dumps(XAPI[0] | {"id": f"00000000-0000-4000-8000-{SALT}"}),
             json.dumps(XAPI[1] | {"id": f"00000000-0000-4000-8001-{SALT}"})],
    "rooms": ROOM_LINES[:12],
}


@pytest.fixture
def second_registration(db, registration):
    """Another registration: the oracle imports the lines a file kept into it."""
    other, _ = upsert(RegistrationInput(
        issuer="https://other.test.edu", client_id="fuzz-oracle", deployment_ids=("d-1",),
        auth_login_url="https://other.test.edu/login", auth_token_url="https://other.test.edu/token",
        key_set_url="https://other.test.edu/jwks", title="Oracle"))
    return other


def _import(runner, registration, path, fmt: str):
    result = runner.invoke(args=["ingest", "import", str(path), "--registration", str(registration.id),
                                 "--format", fmt])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "storing a batch failed" not in result.output, result.output
    return result


def _rejected_lines(path) -> set[int]:
    rejects = path.with_name(path.name + ".rejects.jsonl")
    if not rejects.exists():
        return set()
    # One JSON object per line break (a reason may hold U+2028, which str.splitlines would split at).
    numbers = {json.loads(line)["line"] for line in rejects.read_text(encoding="utf-8").split("\n") if line}
    rejects.unlink()
    return numbers


def _kept_lines_add_the_same_rows(runner, first, second, tmp_path, fmt, records: list[bytes]):
    """Import the records (each ending in a line break) into `first`; import those it did not reject into
    `second`: same rows added, nothing rejected."""
    path = tmp_path / f"file.{fmt}"
    salt = f"{next(_examples):012x}".encode()
    records = [record.replace(SALT.encode(), salt) for record in records]
    path.write_bytes(b"".join(records))
    before = row_counts(_db)
    result = _import(runner, first, path, fmt)
    if result.exit_code != 0:  # the import could not start (e.g. a CSV header it cannot read): nothing stored
        assert row_counts(_db) == before, result.output
        return
    added = {table: count - before[table] for table, count in row_counts(_db).items()}
    rejected = _rejected_lines(path)
    event(f"{'some' if rejected else 'no'} lines rejected, {'some' if any(added.values()) else 'no'} rows added")
    kept, line = [], 0
    for record in records:
        line += record.count(b"\n")
        if line not in rejected:
            kept.append(record)
    path.write_bytes(b"".join(kept))
    middle = row_counts(_db)
    again = _import(runner, second, path, fmt)
    assert again.exit_code == 0, again.output
    assert _rejected_lines(path) == set(), again.output
    assert {table: count - middle[table] for table, count in row_counts(_db).items()} == added


@pytest.mark.parametrize("fmt", list(IMPORT_FILES))
@settings(FUZZ, max_examples=EXAMPLES["import"])
@given(data=st.data())
def test_import_fuzz(runner, registration, second_registration, tmp_path, fmt, data):
    lines = data.draw(_lines(IMPORT_FILES[fmt]), label="lines")
    records = [(line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")).replace(b"\n", b" ")
               + b"\n" for line in lines]
    _kept_lines_add_the_same_rows(runner, registration, second_registration, tmp_path, fmt, records)


@settings(FUZZ, max_examples=EXAMPLES["import"])
@given(rows=st.lists(st.tuples(st.integers(0, 3), mutations), min_size=1, max_size=5))
def test_csv_import_fuzz(runner, registration, second_registration, tmp_path, rows):
    header = io.StringIO()
    csv.writer(header).writerow(CSV_COLUMNS)
    records = [header.getvalue().replace("\r\n", "\n").encode()]
    for n, changes in rows:
        row = mutate(_csv_row(_native(n)), changes)
        cells = [_as_text(row.get(c, "")) if isinstance(row, dict) else _as_text(row) for c in CSV_COLUMNS]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(cells)
        records.append(out.getvalue().encode("utf-8", "surrogatepass"))
    # The header is line 1: it is never rejected (a bad one stops the import before anything is stored).
    _kept_lines_add_the_same_rows(runner, registration, second_registration, tmp_path, "csv", records)
