"""Real feeds accepted as they are, bad ones refused whole (issue 12 §2), over HTTP.

- Open edX's xAPI video statements (openedx/event-routing-backends) and the xAPI Video Profile's
  examples (ADL's video community of practice), as one list and one by one: the counts an LRS client
  sees, and each statement stored as the event its verb means.
- Every 1EdTech Caliper conformance fixture: each error fixture refused with its reason (next to a
  valid MediaEvent, so the whole envelope goes), nothing stored; each valid 1.1 and 1.2 fixture
  accepted, the MediaEvents as player events and the rest counted as ignored.

Where each file comes from: fixtures/xapi/README.md and fixtures/caliper/README.md.
"""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from lti_tool.ingest import tokens
from lti_tool.models import MediaEntry, PlayerEvent, PlayerLoad

from .test_standards import V1P1, V1P2, counts, media_event, post_caliper, post_xapi, statement

FIXTURES = Path(__file__).parent / "fixtures"
OPENEDX = sorted((FIXTURES / "xapi" / "openedx").glob("*.json"))
ADL = sorted((FIXTURES / "xapi" / "adl").glob("*.json"))
ENDPOINT_CONFIG = FIXTURES / "caliper" / "v1p2" / "caliperEndpointConfigPayload.json"
CALIPER_VALID = sorted(path for version in ("v1p1", "v1p2") for path in (FIXTURES / "caliper" / version).glob("*.json")
                       if path != ENDPOINT_CONFIG)
CALIPER_ERRORS = sorted((FIXTURES / "caliper" / "v1p2" / "commonErrorFixtures").glob("*.json"))
VERSIONS = {"v1p1": V1P1, "v1p2": V1P2}
SENSOR = "https://example.edu/sensors/1"
SEND_TIME = "2026-10-05T11:05:01.000Z"


def load(path: Path):
    return json.loads(path.read_text())


def fixture_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.fixture
def auth(registration):
    _token, secret = tokens.create(registration.id, "feed fixtures")
    return {"Authorization": f"Bearer {secret}"}


def stored_types(db, source: str) -> dict[str, str]:
    return dict(db.session.execute(select(PlayerEvent.event_key, PlayerEvent.event_type)
                                   .where(PlayerEvent.source == source)).all())


# ── xAPI ────────────────────────────────────────────────────────────────────────────────────────

VIDEO_ACTIVITY = "https://w3id.org/xapi/video/activity-type/video"
# What a statement about a video means as a player event (DESIGN §5), written out here on its own.
MEANING = {
    "http://adlnet.gov/expapi/verbs/initialized": "impression",   # the player loaded the video
    "https://w3id.org/xapi/video/verbs/played": "play",
    "https://w3id.org/xapi/video/verbs/paused": "pause",
    "https://w3id.org/xapi/video/verbs/seeked": "seek",
    "http://adlnet.gov/expapi/verbs/completed": "ended",
    "http://adlnet.gov/expapi/verbs/terminated": "pause",        # the viewer left: playback stops
}


def meaning(statement: dict) -> str | None:
    """The event type a statement should be stored as; None for one that is only counted as ignored."""
    if statement["object"].get("definition", {}).get("type") != VIDEO_ACTIVITY:
        return None
    return MEANING.get(statement["verb"]["id"])


def expected_store(statements: list[dict]) -> dict[str, str]:
    """event key -> type, for the first statement of each id (a statement id is stored once)."""
    expected: dict[str, str] = {}
    for s in statements:
        if meaning(s):
            expected.setdefault(f"xapi:{s['id']}", meaning(s))
    return expected


def ingest_counts(response) -> tuple[int, int, int]:
    headers = response.headers
    return (int(headers["X-Ingest-Accepted"]), int(headers["X-Ingest-Duplicates"]),
            int(headers["X-Ingest-Ignored"]))


FEEDS = [pytest.param(OPENEDX, id="openedx"), pytest.param(ADL, id="adl-video-profile")]


def test_the_fixture_sets_hold_what_the_readme_says():
    assert len(OPENEDX) == 17 and len(ADL) == 11
    assert len(CALIPER_ERRORS) == 279 and len(CALIPER_VALID) == 129 + 144
    verbs = {load(p)["verb"]["id"].rsplit("/", 1)[1] for p in OPENEDX + ADL}
    assert {"initialized", "played", "paused", "seeked", "completed", "terminated", "interacted"} <= verbs


@pytest.mark.parametrize("files", FEEDS)
def test_real_statements_in_one_list(client, db, auth, files):
    statements = [load(p) for p in files]
    response = post_xapi(client, auth, statements)
    assert response.status_code == 200, response.text
    assert response.get_json() == [s["id"] for s in statements]  # as an LRS answers
    media = [s for s in statements if meaning(s)]
    expected = expected_store(statements)
    assert ingest_counts(response) == (len(expected), len(media) - len(expected), len(statements) - len(media))
    assert stored_types(db, "xapi") == expected
    before = counts(db)
    again = post_xapi(client, auth, statements)
    assert ingest_counts(again) == (0, len(media), len(statements) - len(media))
    assert counts(db) == before


@pytest.mark.parametrize("files", FEEDS)
def test_real_statements_one_by_one(client, db, auth, files):
    seen: set[str] = set()
    statements = [load(p) for p in files]
    for path, s in zip(files, statements):
        response = post_xapi(client, auth, s)
        assert response.status_code == 200, (path.name, response.text)
        assert response.get_json() == [s["id"]]
        if meaning(s) is None:
            assert ingest_counts(response) == (0, 0, 1), path.name
        elif s["id"] in seen:
            assert ingest_counts(response) == (0, 1, 0), path.name
        else:
            assert ingest_counts(response) == (1, 0, 0), path.name
        seen.add(s["id"])
    assert stored_types(db, "xapi") == expected_store(statements)


def test_open_edx_fixtures_describe_their_video(client, db, auth):
    assert post_xapi(client, auth, [load(p) for p in OPENEDX]).status_code == 200
    video = db.session.scalar(select(MediaEntry).where(MediaEntry.external_id == load(OPENEDX[0])["object"]["id"]))
    # load_video says 0.0 (not known yet); the other statements say 195 s.
    assert video.duration_seconds == 195.0
    assert db.session.scalar(select(func.count()).select_from(PlayerLoad)) == 1
    adl = [load(p) for p in ADL]
    assert post_xapi(client, auth, adl).status_code == 200
    oceans = db.session.scalar(select(MediaEntry).where(MediaEntry.external_id == "http://vjs.zencdn.net/v/oceans.mp4"))
    assert (oceans.name, oceans.duration_seconds) == ("Ocean Life", 46.613333)


def test_a_load_of_unknown_length_is_an_impression_and_keeps_its_batch(client, db, auth):
    """The issue's reproduction: Open edX's `initialized` with length 0.0 refused eight statements."""
    load_video = load(FIXTURES / "xapi" / "openedx" / "load_video.json")
    assert load_video["context"]["extensions"]["https://w3id.org/xapi/video/extensions/length"] == 0.0
    others = [load(FIXTURES / "xapi" / "openedx" / f"{name}.json") for name in (
        "play_video", "pause_video", "seek_video", "stop_video", "complete_video",
        "show_transcript", "hide_transcript")]
    response = post_xapi(client, auth, [load_video, *others])
    assert response.status_code == 200, response.text
    assert ingest_counts(response) == (6, 0, 2)
    assert stored_types(db, "xapi")[f"xapi:{load_video['id']}"] == "impression"


@pytest.mark.parametrize("length, reason", [(-1.0, "length must be between"), (0.0005, "length must be between"),
                                            (False, "length must be a number"), ("0", "length must be a number"),
                                            (864001, "length must be between")])
def test_lengths_that_are_not_zero_are_still_checked(client, db, auth, length, reason):
    before = counts(db)
    bad = statement("http://adlnet.gov/expapi/verbs/initialized", "10:00:00", length=length)
    played = statement("https://w3id.org/xapi/video/verbs/played", "10:00:01", time=0.0)
    response = post_xapi(client, auth, [played, bad])
    assert response.status_code == 400
    [error] = response.get_json()["errors"]
    assert error["index"] == 1 and reason in error["reason"], error
    assert counts(db) == before


# ── Caliper: error fixtures ─────────────────────────────────────────────────────────────────────

# Fixture names that do not spell the property they break.
NAMED_OTHERWISE = {
    "MalformedCreationDate": "dateCreated", "MalformedModifiedDate": "dateModified",
    "MalformedIsTimeDependantNotAString": "isTimeDependent", "MalformedGeneratableWrongEntityType": "generated",
    "MalformedReferrerEntityType": "referrer", "UnknownContext": "@context", "UnknownEntityType": "type",
    "UnknownEventType": "type",
}
BROKEN_WORDS = r"(?=NotA|Not[A-Z]|Wrong|Unknown|Contains?[A-Z]|NoValue|ListElement|Invalid|$)"


def broken_property(path: Path) -> str:
    """The property an error fixture breaks, from its name: "caliperEvent-MalformedTargetNotAString" -> "target"."""
    what = path.stem.split("-", 1)[1]
    if what in NAMED_OTHERWISE:
        return NAMED_OTHERWISE[what]
    what = re.sub(r"^(Malformed|Malfromed|No|Null|Unknown|Wrong)", "", what)
    word = re.match(rf"[A-Z][A-Za-z]*?{BROKEN_WORDS}", what).group(0)
    return word[0].lower() + word[1:]


def names(reason: str, prop: str) -> bool:
    return re.search(rf"(?<![A-Za-z]){re.escape(prop)}(?![A-Za-z])", reason) is not None


def refusal_problem(client, auth, path: Path) -> str | None:
    """What is wrong with how the error fixture at `path`, sent after a valid MediaEvent, was answered."""
    good = media_event("Started", "10:00:00", "PT0S")
    raw = path.read_text()  # as published: two of them are not even JSON
    body = (f'{{"sensor": "{SENSOR}", "sendTime": "{SEND_TIME}", "dataVersion": "{V1P2}", '
            f'"data": [{json.dumps(good)}, {raw}]}}')
    response = client.post("/api/v1/caliper", data=body, headers=auth, content_type="application/json")
    if response.status_code != 400:
        return f"answered {response.status_code}: {response.text[:200]}"
    found = response.get_json()
    try:
        json.loads(raw)
    except ValueError:
        return None if "not valid JSON" in found["error"] else found["error"]
    if "nothing was stored" not in found["error"] or [e["index"] for e in found["errors"]] != [1]:
        return f"answered {found}"
    reason = found["errors"][0]["reason"]
    return None if names(reason, broken_property(path)) else f"{reason!r} does not name {broken_property(path)}"


def test_every_caliper_error_fixture_is_refused_whole(client, db, auth):
    """Each of the 279 error fixtures (one request each, all in one test to keep the suite quick)."""
    before = counts(db)
    problems = {path.name: problem for path in CALIPER_ERRORS if (problem := refusal_problem(client, auth, path))}
    assert problems == {}
    assert counts(db) == before


def test_the_media_event_of_the_issue_is_refused(client, db, auth):
    """A MediaEvent whose target is "This is not an object or IRI" was stored as a pause with no position."""
    bad = load(FIXTURES / "caliper" / "v1p2" / "commonErrorFixtures" / "caliperEvent-MalformedTargetNotAString.json")
    assert bad["target"] == "This is not an object or IRI"
    before = counts(db)
    response = post_caliper(client, auth, {"sensor": SENSOR, "sendTime": SEND_TIME, "dataVersion": V1P2, "data": [bad]})
    assert response.status_code == 400
    assert response.get_json()["errors"] == [
        {"index": 0, "reason": "target 'This is not an object or IRI' is neither an object nor an IRI"}]
    assert counts(db) == before


@pytest.mark.parametrize("sensor", ["not a sensor", "//example.edu/sensors/1", "", 42])
def test_an_envelope_sensor_must_be_an_iri(client, db, auth, sensor):
    before = counts(db)
    body = {"sensor": sensor, "sendTime": SEND_TIME, "dataVersion": V1P2,
            "data": [media_event("Started", "10:00:00", "PT0S")]}
    response = post_caliper(client, auth, body)
    assert response.status_code == 400
    assert response.get_json()["errors"] == [{"index": None, "reason": "sensor must be the sensor's IRI"}]
    assert counts(db) == before


# ── Caliper: valid fixtures ─────────────────────────────────────────────────────────────────────

PLAYBACK_ACTIONS = {"Started", "Restarted", "Resumed", "Paused", "Ended", "JumpedTo", "ForwardedTo"}
MEDIA_TYPES = {"MediaObject", "VideoObject", "AudioObject", "ImageObject"}


def is_media(item: dict) -> bool:
    """A playback MediaEvent, or a page view or navigation to a media object (an impression)."""
    if item.get("type") == "MediaEvent":
        return item.get("action") in PLAYBACK_ACTIONS
    target = item.get("object")
    return ((item.get("type"), item.get("action")) in {("NavigationEvent", "NavigatedTo"), ("ViewEvent", "Viewed")}
            and isinstance(target, dict) and target.get("type") in MEDIA_TYPES)


def as_envelope(path: Path) -> dict:
    body = load(path)
    if "sensor" in body:
        return body
    return {"sensor": SENSOR, "sendTime": SEND_TIME, "dataVersion": VERSIONS[path.parent.name], "data": [body]}


def test_every_valid_caliper_fixture_is_accepted(client, db, auth):
    """Each of the 273 valid 1.1 and 1.2 fixtures in an envelope of its own, one after the other."""
    seen: set[str] = set()
    problems = {}
    for path in CALIPER_VALID:
        envelope = as_envelope(path)
        media = [item["id"] for item in envelope["data"] if is_media(item)]
        new = set(media) - seen
        expected = {"accepted": len(new), "duplicates": len(media) - len(new),
                    "ignored": len(envelope["data"]) - len(media)}
        response = post_caliper(client, auth, envelope)
        if response.status_code != 200 or response.get_json() != expected:
            problems[fixture_id(path)] = (response.status_code, response.text[:300])
        seen |= new
    assert problems == {}
    assert set(stored_types(db, "caliper")) == {f"caliper:{event_id}" for event_id in seen}


@pytest.mark.parametrize("version", ["v1p1", "v1p2"])
def test_all_valid_fixtures_of_a_version_in_one_envelope(client, db, auth, version):
    items = []
    for path in CALIPER_VALID:
        if path.parent.name == version:
            items.extend(as_envelope(path)["data"])
    media = [item for item in items if is_media(item)]
    media_ids = {item["id"] for item in media}
    assert media_ids  # each version has its MediaEvent fixtures
    response = post_caliper(client, auth, {"sensor": SENSOR, "sendTime": SEND_TIME, "dataVersion": VERSIONS[version],
                                           "data": items})
    assert response.status_code == 200, response.text
    assert response.get_json() == {"accepted": len(media_ids), "duplicates": len(media) - len(media_ids),
                                   "ignored": len(items) - len(media)}
    # Each MediaEvent fixture is the spec's "Paused at PT05M21S" of one video.
    event = db.session.scalar(select(PlayerEvent).where(PlayerEvent.source == "caliper"))
    assert (event.event_type, event.position) == ("pause", 321.0)
    entry = db.session.get(MediaEntry, event.entry_id)
    assert (entry.external_id, entry.duration_seconds) == ("https://example.edu/UQVK-dsU7-Y", 1220.0)


def test_our_endpoint_configuration_has_the_fixture_shape(client, auth):
    ours = client.get("/api/v1/caliper", headers=auth).get_json()
    theirs = load(ENDPOINT_CONFIG)
    assert set(ours) == set(theirs)
    assert set(ours["caliper_supported_versions"]) <= set(theirs["caliper_supported_versions"])


def test_an_anonymous_viewer_stays_anonymous(client, db, auth):
    """Caliper marks an anonymous actor by its type's IRI: that is nobody, not one shared person."""
    event = media_event("Started", "10:00:00", "PT0S")
    event["actor"] = {"id": "http://purl.imsglobal.org/caliper/Person", "type": "Person"}
    as_iri = media_event("Paused", "10:01:00", "PT1M")
    as_iri["actor"] = "http://purl.imsglobal.org/caliper/Person"
    response = post_caliper(client, auth, {"sensor": SENSOR, "sendTime": SEND_TIME, "dataVersion": V1P2,
                                           "data": [event, as_iri]})
    assert response.get_json()["accepted"] == 2
    people = db.session.scalars(select(PlayerEvent.person_id).where(PlayerEvent.source == "caliper")).all()
    assert people == [None, None]


# ── Caliper: any entity reference that is not an IRI refuses the envelope ───────────────────────

MEDIA_FIXTURE = load(FIXTURES / "caliper" / "v1p2" / "caliperEventMediaPausedVideo.json")
# Where the MediaEvent fixture references an entity (each may be an object or an IRI).
REFERENCES = [("actor",), ("object",), ("target",), ("edApp",), ("group",), ("membership",), ("session",),
              ("membership", "member"), ("membership", "organization")]
NOT_IRIS = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters=":", blacklist_categories=("Cs",)), max_size=30),  # no scheme
    st.builds(lambda a, b: f"https://example.edu/{a} {b}", st.text("abc", max_size=5), st.text("xyz", max_size=5)),
    st.builds(lambda c: f"https://example.edu/a{c}b", st.sampled_from(["\u0000", "\t", "\n", "\x7f", "<", ">", '"',
                                                                           "{", "}", "|", "\\", "^", "`", "\u200e"])),
    st.sampled_from(["This is not an object or IRI", "1https://example.edu", "//example.edu/x",
                     "https://exa mple.edu"]),
)


def _with(event: dict, path: tuple[str, ...], value) -> dict:
    event = json.loads(json.dumps(event))
    holder = event
    for name in path[:-1]:
        holder = holder[name]
    holder[path[-1]] = value
    return event


def test_a_reference_that_is_not_an_iri_refuses_the_envelope(client, db, auth):
    @settings(max_examples=60, deadline=None)
    @given(path=st.sampled_from(REFERENCES), junk=NOT_IRIS)
    def check(path, junk):
        event = _with(MEDIA_FIXTURE, path, junk) | {"id": f"urn:uuid:{uuid.uuid4()}"}
        before = counts(db)
        response = post_caliper(client, auth, {"sensor": SENSOR, "sendTime": SEND_TIME, "dataVersion": V1P2,
                                               "data": [media_event("Started", "10:00:00", "PT0S"), event]})
        assert response.status_code == 400, (path, junk, response.text)
        assert path[-1] in response.text, response.text  # the reason names what is wrong
        assert counts(db) == before

    check()


IRIS = st.one_of(
    st.builds(lambda n: f"https://example.edu/things/{n}", st.integers(0, 10**9)),
    st.builds(lambda u: f"urn:uuid:{u}", st.uuids()),
    st.sampled_from(["https://r\u00e9sum\u00e9.example.org/caf\u00e9?q=\u4e2d#\u00e9", "urn:example:a:b",
                     "http://[2001:db8::7]/x", "tag:example.edu,2026:viewer/1"]),
)


def test_a_reference_given_as_an_iri_is_accepted(client, db, auth):
    @settings(max_examples=30, deadline=None)
    @given(path=st.sampled_from(REFERENCES), iri=IRIS)
    def check(path, iri):
        event = _with(MEDIA_FIXTURE, path, iri) | {"id": f"urn:uuid:{uuid.uuid4()}"}
        before = db.session.scalar(select(func.count()).select_from(PlayerEvent))
        response = post_caliper(client, auth, {"sensor": SENSOR, "sendTime": SEND_TIME, "dataVersion": V1P2,
                                               "data": [event]})
        assert response.status_code == 200, (path, iri, response.text)
        assert response.get_json() == {"accepted": 1, "duplicates": 0, "ignored": 0}
        assert db.session.scalar(select(func.count()).select_from(PlayerEvent)) == before + 1

    check()
