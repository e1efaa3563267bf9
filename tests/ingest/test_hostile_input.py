"""Input no feed should send, and each answered 4xx with its reason and nothing stored, never a 500:
JSON nested 100 000 deep, times outside 1970-2199, NUL bytes and lone surrogates in text, NaN,
integers beyond their columns. And `flask ingest import` puts such lines in the rejects file and
stores the good ones."""
from __future__ import annotations

import json
import uuid

import pytest

from lti_tool.ingest import tokens

from ..support.rows import row_counts
from .dataset import EVENTS
from .test_standards import VIDEO, envelope, media_event, statement

DEEP = "[" * 100_000 + "]" * 100_000
FAR_TIMES = ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59Z",
             "1969-12-31T23:59:59Z", "2200-01-01T00:00:00Z")
BAD_TEXTS = ("a\u0000b", "a\ud800b", "a\udfffb", "a\u0007b")
GOOD_TIME = "2026-10-05T10:00:00Z"


@pytest.fixture
def auth(registration):
    _token, secret = tokens.create(registration.id, "hostile input")
    return {"Authorization": f"Bearer {secret}"}


def send(client, auth, method: str, path: str, body, *, raw: bool = False, **kwargs):
    """Send body as JSON (raw: as the text given) and return the response."""
    data = body if raw else json.dumps(body)
    return client.open(path, method=method, data=data, headers={**auth, "Content-Type": "application/json"},
                       **kwargs)


def refused(response, *reasons: str) -> str:
    """The response is a 4xx JSON error naming one of the reasons somewhere; returns its text."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    text = response.text
    assert not reasons or any(reason in text for reason in reasons), text[:500]
    return text


def native(**fields) -> dict:
    return {"version": 1, "events": [EVENTS[0], {"id": "hostile", "type": "play", "time": GOOD_TIME,
                                                 "entry_id": "1_e1", **fields}]}


def room_batch(**chat) -> dict:
    return {"version": 1, "events": [
        {"id": "room-h", "type": "room", "name": "Room"},
        {"id": "s-h", "type": "session", "room": "room-h", "start": GOOD_TIME},
        {"id": "chat-h", "type": "chat", "time": GOOD_TIME, "session": "s-h", "user": "sub:ana", "text": "hi",
         **chat}]}


def caliper(**fields) -> dict:
    return envelope(media_event("Started", "10:00:00", "PT0S", **fields))


def xapi(**fields) -> dict:
    return [statement("https://w3id.org/xapi/video/verbs/played", "10:00:01", session="s", time=0.0) | fields]


JSON_ENDPOINTS = [("POST", "/api/v1/events"), ("POST", "/api/v1/caliper"), ("POST", "/api/v1/xapi/statements"),
                  ("POST", "/api/v1/room-events"), ("PUT", "/api/v1/entries/e1"), ("PUT", "/api/v1/categories/c1"),
                  ("POST", "/api/v1/player-tokens")]


@pytest.mark.parametrize("method, path", JSON_ENDPOINTS)
@pytest.mark.parametrize("body", [DEEP, '{"a": ' * 100_000 + "1" + "}" * 100_000, "[" * 100_000])
def test_json_nested_100000_deep_is_refused(client, db, auth, method, path, body):
    before = row_counts(db)
    refused(send(client, auth, method, path, body, raw=True), "nested deeper than")
    assert row_counts(db) == before


@pytest.mark.parametrize("method, path", JSON_ENDPOINTS)
def test_json_nested_deeper_than_the_limit_is_refused_and_shallower_is_read(client, db, auth, method, path):
    refused(send(client, auth, method, path, "[" * 65 + "]" * 65, raw=True), "nested deeper than 64")
    shallow = send(client, auth, method, path, "[" * 64 + "]" * 64, raw=True)
    assert shallow.status_code in (400, 422) and "nested deeper" not in shallow.text


def test_a_deep_kava_json_body_is_refused(client, db, registration):
    before = row_counts(db)
    response = client.post("/api/v1/kava?eventType=1&partnerId=1&entryId=e&sessionId=s&eventIndex=1",
                           data='{"x": ' + DEEP + "}", headers={"Content-Type": "application/json"})
    refused(response)
    assert row_counts(db) == before


@pytest.mark.parametrize("when", FAR_TIMES)
@pytest.mark.parametrize("feed", ["events", "caliper", "xapi", "rooms", "entries", "event unix"])
def test_times_outside_the_window_are_refused(client, db, auth, feed, when):
    method, path, body = {
        "events": ("POST", "/api/v1/events", native(time=when)),
        "event unix": ("POST", "/api/v1/events", native(time=1e12 if when.startswith("9") else -1)),
        "caliper": ("POST", "/api/v1/caliper", caliper(eventTime=when)),
        "xapi": ("POST", "/api/v1/xapi/statements", xapi(timestamp=when)),
        "rooms": ("POST", "/api/v1/room-events", room_batch(time=when)),
        "entries": ("PUT", "/api/v1/entries/e1", {"name": "Week 1", "created_at": when}),
    }[feed]
    before = row_counts(db)
    # Caliper's data model checks every date and time with parse_time, and names the field instead.
    reasons = ("between 1970-01-01 and 2199-12-31",) + (("eventTime",) if feed == "caliper" else ())
    refused(send(client, auth, method, path, body), *reasons)
    assert row_counts(db) == before


def test_times_at_the_edges_of_the_window_are_read(client, db, auth):
    for when in ("1970-01-01T00:00:00Z", "2199-12-31T23:59:59.999999Z", 0, 7258118399):
        response = send(client, auth, "POST", "/api/v1/events", native(time=when, id=f"edge-{when}"))
        assert response.status_code == 200, response.text


TEXT_FEEDS = ["events entry_id", "events user", "events extra", "caliper", "xapi", "room chat", "room id",
              "entry name", "entry tag", "category name", "category member"]


# A control character other than NUL is stored where the feed's text is free-form (a native event's extra).
@pytest.mark.parametrize("feed, bad", [(feed, bad) for feed in TEXT_FEEDS for bad in BAD_TEXTS
                                       if not (bad == "a\u0007b" and feed == "events extra")])
def test_nul_surrogates_and_control_characters_in_text_are_refused(client, db, auth, feed, bad):
    method, path, body = {
        "events entry_id": ("POST", "/api/v1/events", native(entry_id=bad)),
        "events user": ("POST", "/api/v1/events", native(user=f"sub:{bad}")),
        "events extra": ("POST", "/api/v1/events", native(extra={"note": bad})),
        "caliper": ("POST", "/api/v1/caliper", caliper(object={**VIDEO, "id": f"https://example.edu/{bad}"})),
        "xapi": ("POST", "/api/v1/xapi/statements", xapi(object={"id": f"https://example.edu/{bad}"})),
        "room chat": ("POST", "/api/v1/room-events", room_batch(text=bad)),
        "room id": ("POST", "/api/v1/room-events", room_batch(id=bad)),
        "entry name": ("PUT", "/api/v1/entries/e1", {"name": bad}),
        "entry tag": ("PUT", "/api/v1/entries/e1", {"name": "Week 1", "tags": [bad]}),
        "category name": ("PUT", "/api/v1/categories/c1", {"name": bad}),
        "category member": ("PUT", "/api/v1/categories/c1", {"name": "Gallery", "members": [bad]}),
    }[feed]
    before = row_counts(db)
    # Caliper checks its IRIs first: one with a character that is not text is not an IRI.
    refused(send(client, auth, method, path, body), "NUL", "lone surrogate", "control character", "not an IRI")
    assert row_counts(db) == before


@pytest.mark.parametrize("path", ["/api/v1/entries/cat%00bad", "/api/v1/categories/cat%00bad"])
def test_nul_in_a_catalog_id_in_the_url_is_refused(client, db, auth, path):
    before = row_counts(db)
    refused(send(client, auth, "PUT", path, {"name": "x"}), "NUL", "control character")
    refused(client.get(path, headers=auth))
    assert row_counts(db) == before


# A URL or a form carries bytes: a lone surrogate can only come in a JSON body ("\ud800"); on the wire it
# is the bytes of its UTF-8-like encoding, which are not UTF-8 (tested in the query string).
@pytest.mark.parametrize("how, param, value", [
    (how, param, value) for how in ("get", "form", "json")
    for param, value in [("entryId", "a\u0000b"), ("sessionId", "s\u0000"), ("partnerId", "1\u0000"),
                         ("referrer", "https://x.edu/\u0000")]] + [("json", "entryId", "a\ud800b")])
def test_kava_parameters_with_nul_or_surrogates_are_refused(client, db, registration, how, param, value):
    registration.player_partner_id = "1"
    registration.allow_anonymous_beacons = True
    db.session.commit()
    beacon = {"eventType": "1", "partnerId": "1", "entryId": "1_e", "sessionId": "s-1", "eventIndex": "1",
              param: value}
    before = row_counts(db)
    if how == "get":
        response = client.get("/api/v1/kava", query_string=beacon)
    elif how == "form":
        response = client.post("/api/v1/kava", data=beacon)
    else:
        response = client.post("/api/v1/kava", data=json.dumps(beacon), headers={"Content-Type": "application/json"})
    refused(response)
    assert row_counts(db) == before


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_inside_extra_is_refused(client, db, auth, constant):
    body = json.dumps(native(extra={"ratio": "__"})).replace('"__"', constant)
    before = row_counts(db)
    refused(send(client, auth, "POST", "/api/v1/events", body, raw=True), "not valid JSON")
    assert row_counts(db) == before


@pytest.mark.parametrize("number", [10**400, -(10**400), 2**63, 1e308])
@pytest.mark.parametrize("field", ["position", "duration", "time", "seq"])
def test_numbers_beyond_any_column_are_refused(client, db, auth, field, number):
    before = row_counts(db)
    refused(send(client, auth, "POST", "/api/v1/events", native(**{field: number})))
    assert row_counts(db) == before


@pytest.mark.parametrize("segments", [[[0, None]], [[None, 5]], [[None, None]]])
def test_a_segment_without_an_end_is_refused(client, db, auth, segments):
    before = row_counts(db)
    refused(send(client, auth, "POST", "/api/v1/events", native(segments=segments)), "a segment needs")
    assert row_counts(db) == before


@pytest.mark.parametrize("coeditors", [[None], [""], ["sub:ta", None]])
def test_an_entry_coeditor_that_is_not_a_user_is_refused(client, db, auth, coeditors):
    before = row_counts(db)
    refused(send(client, auth, "PUT", "/api/v1/entries/e1", {"name": "Week 1", "coeditors": coeditors}), "coeditors")
    assert row_counts(db) == before


@pytest.mark.parametrize("course_id", [2**40, 2**31, -1, 0])
def test_a_category_course_id_beyond_the_column_is_refused(client, db, auth, course_id):
    before = row_counts(db)
    refused(send(client, auth, "PUT", "/api/v1/categories/c1", {"name": "Gallery", "course_id": course_id}),
            "course_id")
    assert row_counts(db) == before


# -- flask ingest import -----------------------------------------------------------------------------

def run_import(runner, registration, path, *extra):
    return runner.invoke(args=["ingest", "import", str(path), "--registration", str(registration.id), *extra])


def rejects_of(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def good(n: int) -> dict:
    return {"id": f"good-{n}", "type": "impression", "time": GOOD_TIME, "entry_id": "1_e1"}


JSONL_HOSTILE = [
    (DEEP, "nested deeper than"),
    (json.dumps(dict(good(100), id="far", time="9999-12-31T23:59:59-05:00")), "between 1970-01-01"),
    (json.dumps(dict(good(100), id="early", time="0001-01-01T00:00:00+05:00")), "between 1970-01-01"),
    (json.dumps(dict(good(100), id="huge", time=1e300)), "between 1970-01-01"),
    (json.dumps(dict(good(100), id="nul", entry_id="a\u0000b")), "NUL"),
    (json.dumps(dict(good(100), id="surrogate", entry_id="a\ud800b")), "lone surrogate"),
    (json.dumps(dict(good(100), id="nan")).replace('"nan"', "NaN"), "not valid JSON"),
]


def test_jsonl_import_rejects_hostile_lines_and_stores_the_good(runner, db, registration, tmp_path):
    lines = [json.dumps(good(0))]
    for n, (line, _reason) in enumerate(JSONL_HOSTILE, start=1):
        lines += [line, json.dumps(good(n))]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_import(runner, registration, path)
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"accepted {len(JSONL_HOSTILE) + 1}, duplicates 0, rejected {len(JSONL_HOSTILE)}" in result.output
    rejects = rejects_of(tmp_path / "events.jsonl.rejects.jsonl")
    assert [r["line"] for r in rejects] == [2 * n for n in range(1, len(JSONL_HOSTILE) + 1)]
    for reject, (_line, reason) in zip(rejects, JSONL_HOSTILE):
        assert reason in reject["reason"], reject


def test_kava_caliper_xapi_rooms_and_csv_imports_reject_hostile_lines(runner, db, registration, tmp_path):
    session = str(uuid.uuid4())
    files = {
        "beacons.kava": [
            f"eventType=1&eventIndex=1&partnerId=1&entryId=1_k&sessionId={session}&received_at=2026-10-05T10:00:00Z",
            f"eventType=1&eventIndex=2&partnerId=1&entryId=a%00b&sessionId={session}",
            f"eventType=1&eventIndex=3&partnerId=1&entryId=1_k&sessionId={session}&received_at=9999-12-31T23:59:59-05:00",
            f"eventType=1&eventIndex=4&partnerId=1&entryId=1_k&sessionId={session}&received_at=1e999",
            '{"eventType": 1, "x": ' + DEEP + "}",
        ],
        "envelopes.caliper": [json.dumps(caliper()), json.dumps(caliper(eventTime="9999-12-31T23:59:59Z")),
                              json.dumps(caliper(object={**VIDEO, "id": "a\u0000b"})), DEEP],
        "statements.xapi": [json.dumps(xapi()), json.dumps(xapi(timestamp="0001-01-01T00:00:00+05:00")),
                            json.dumps(xapi(object={"id": "https://x.edu/\ud800"})), DEEP],
        "live.rooms.jsonl": [json.dumps(e) for e in room_batch()["events"]] + [
            json.dumps(room_batch(id="c2", time="9999-12-31T23:59:59Z")["events"][2]),
            json.dumps(room_batch(id="c3", text="a\u0000b")["events"][2]), DEEP],
    }
    for name, lines in files.items():
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = run_import(runner, registration, path)
        assert result.exit_code == 0, (name, result.output)
        rejected = len(rejects_of(tmp_path / f"{name}.rejects.jsonl"))
        good_lines = 3 if name == "live.rooms.jsonl" else 1
        assert rejected == len(lines) - good_lines, (name, result.output)
        assert f"accepted {good_lines}" in result.output, (name, result.output)

    csv_path = tmp_path / "events.csv"
    csv_path.write_text("id,type,time,entry_id,extra\n"
                        f"c1,impression,{GOOD_TIME},1_e1,\n"
                        "c2,impression,9999-12-31T23:59:59-05:00,1_e1,\n"
                        "c3,impression,1e300,1_e1,\n"
                        f"c4,impression,{GOOD_TIME},a\u0000b,\n"
                        f'c5,impression,{GOOD_TIME},1_e1,"{{""a"": NaN}}"\n'
                        f'c6,impression,{GOOD_TIME},1_e1,"{"[" * 5000}"\n'
                        f"c7,impression,{GOOD_TIME},1_e1,\n", encoding="utf-8")
    result = run_import(runner, registration, csv_path)
    assert result.exit_code == 0, result.output
    assert "accepted 2, duplicates 0, rejected 5" in result.output


@pytest.mark.parametrize("raw", ["a%ED%A0%80b", "a%FFb"])
def test_kava_bytes_that_are_not_utf8_in_the_url_are_refused(client, db, registration, raw):
    """What a lone surrogate becomes on the wire (or any byte that is not UTF-8) in a GET beacon."""
    registration.player_partner_id = "1"
    registration.allow_anonymous_beacons = True
    db.session.commit()
    before = row_counts(db)
    response = client.get(f"/api/v1/kava?eventType=1&partnerId=1&sessionId=s-1&eventIndex=1&entryId={raw}")
    assert 400 <= response.status_code < 500, response.text
    assert row_counts(db) == before
