"""Rollups: the numbers on every page are the same whether they are read from the rollups or from plays.

On a generated semester of plays, player loads, people and entries (with times on and around local
midnights of the zones tested), in zones with whole, half-hour and 45-minute offsets and daylight
saving of one hour and of half an hour, every preset (since creation included), custom ranges,
compare periods and each single filter: every block's answer read from the rollups equals the one
read from plays (`metrics.READ_ROLLUPS` switched off), which reads nothing of the rollups. Seconds
are multiples of 1/4 s, so sums of floats are exact in any order and answers compare with ==.

The same answers read the way a whole page reads them (`metrics.sharing`: the scope's total and its
single-column groupings in one GROUPING SETS pass, each question answered once) equal the plays' too.

Rollups kept at ingest (events redelivered, out of order, in random batches) equal the ones
`flask analytics rebuild` makes from raw events; and a gallery page reads neither plays nor player
loads once its zone is built.
"""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from itertools import count

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, insert, text

from lti_tool.analytics import dashboard, embeds, metrics, reports
from lti_tool.analytics.filters import Filters, period
from lti_tool.analytics.metrics import UNKNOWN_DOMAIN, reads_rollups
from lti_tool.analytics.scopes import _scope
from lti_tool.ingest import rollups
from lti_tool.ingest.pipeline import rebuild
from lti_tool.models import Category, MediaEntry, Person, Play, PlayerLoad, PlayRollup, RollupZone

from ..ingest.dataset import EVENTS
from ..support.factories import add_to_gallery, bearer, ingest

ZONES = ("UTC", "America/Chicago", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe")
NOW = datetime(2026, 6, 20, 15, 0, tzinfo=timezone.utc)
CREATED = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
FIRST_DAY = date(2025, 3, 1)        # plays from here ...
DAYS = 480                          # ... to 2026-06-23 (some after NOW: "include today" and since creation)
# Seconds after a UTC midnight that are a local midnight in one of ZONES (and a second either side).
MIDNIGHTS = sorted({s + d for s in (0, 5 * 3600, 6 * 3600, 18 * 3600 + 30 * 60, 18 * 3600 + 15 * 60, 13 * 3600,
                                    13 * 3600 + 30 * 60, 14 * 3600) for d in (-1, 0, 1)} - {-1})
DOMAINS = ("canvas.umn.edu", "www.youtube.com", None)
URLS = {"canvas.umn.edu": ("https://canvas.umn.edu/courses/1", "https://canvas.umn.edu/courses/2"),
        "www.youtube.com": ("https://www.youtube.com/watch",), None: (None,)}
PLACES = (("US", "Minnesota", "Minneapolis"), ("US", "Texas", "Austin"), ("IN", "Delhi", "New Delhi"),
          ("NP", None, None), (None, None, None))
DEVICES = (("desktop", "Windows", "Chrome"), ("mobile", "iOS", "Safari"), ("tablet", "Android", None))
PEOPLE, ENTRIES = 6, 4
TAGS = count(1)


@st.composite
def facts(draw):
    """(kind, entry, person, day offset, second of the day, domain, url, place, device, context, numbers)."""
    kind = draw(st.sampled_from(("play", "play", "load")))
    domain = draw(st.sampled_from(DOMAINS))
    percentiles = draw(st.one_of(st.none(), st.lists(st.booleans(), min_size=101, max_size=101).map(
        lambda bits: "".join("1" if b else "0" for b in bits))))
    return {
        "kind": kind, "entry": draw(st.integers(0, ENTRIES - 1)),
        "person": draw(st.one_of(st.none(), st.integers(0, PEOPLE - 1))),
        "day": draw(st.one_of(st.integers(0, DAYS), st.sampled_from((0, 1, 365, 366, DAYS - 5, DAYS - 3)))),
        "second": draw(st.one_of(st.integers(0, 86399), st.sampled_from(MIDNIGHTS))),
        "domain": domain, "url": draw(st.sampled_from(URLS[domain])), "place": draw(st.sampled_from(PLACES)),
        "device": draw(st.sampled_from(DEVICES)), "inside": draw(st.sampled_from((True, False, None))),
        "seconds": draw(st.integers(0, 4 * 600)) / 4, "percentiles": percentiles,
        "quartiles": draw(st.integers(0, 4)), "highest": draw(st.sampled_from((0, 25, 50, 75, 100))),
        "end": draw(st.booleans()), "late": draw(st.integers(0, 4000)),
    }


def store(db, registration_id: int, found: list[dict]) -> tuple[tuple[int, ...], int, int]:
    """The facts as Play and PlayerLoad rows (after wiping the registration's); (entry ids, gallery id, other category)."""
    for model in (PlayRollup, RollupZone, Play, PlayerLoad):
        db.session.execute(delete(model).where(model.registration_id == registration_id))
    db.session.info.pop("rollup_zones", None)
    tag = next(TAGS)
    entries = [MediaEntry(registration_id=registration_id, external_id=f"1_roll{tag}_{i}", name=f"Entry {i}",
                          media_type="video", described=True, tags=[]) for i in range(ENTRIES)]
    people = [Person(registration_id=registration_id, subject=f"roll{tag}-{i}", name=f"Person {i}")
              for i in range(PEOPLE)]
    gallery = Category(registration_id=registration_id, external_id=f"gal{tag}", name="G", kind="gallery")
    other = Category(registration_id=registration_id, external_id=f"oth{tag}", name="O", kind="channel")
    db.session.add_all([*entries, *people, gallery, other])
    db.session.flush()
    plays, loads = [], []
    for n, fact in enumerate(found):
        at = datetime.combine(FIRST_DAY, datetime.min.time(), timezone.utc) + timedelta(days=fact["day"],
                                                                                     seconds=fact["second"])
        country, region, city = fact["place"]
        device, os_name, browser = fact["device"]
        row = {"registration_id": registration_id, "entry_id": entries[fact["entry"]].id,
               "person_id": people[fact["person"]].id if fact["person"] is not None else None,
               "playback_type": "vod", "url": fact["url"], "domain": fact["domain"], "device_type": device,
               "os": os_name, "browser": browser, "country": country, "region": region, "city": city,
               "context_category_id": {True: gallery.id, False: other.id, None: None}[fact["inside"]]}
        if fact["kind"] == "load":
            loads.append({**row, "load_key": f"load-{n}", "occurred_at": at})
            continue
        bits = fact["percentiles"]
        plays.append({**row, "play_key": f"play-{n}", "source": "native", "started_at": at,
                      "last_event_at": at + timedelta(seconds=fact["late"]), "seconds_viewed": fact["seconds"],
                      "segments": [], "percentiles": bits, "percentile_count": bits.count("1") if bits else 0,
                      "quartile_events": fact["quartiles"], "highest_quartile": fact["highest"],
                      "reached_end": fact["end"]})
    if plays:
        db.session.execute(insert(Play), plays)
    if loads:
        db.session.execute(insert(PlayerLoad), loads)
    db.session.flush()
    return tuple(e.id for e in entries), gallery.id, people[0].id


def answers(session, scope, compare, p, zone: str) -> dict:
    """Every block's answer for one scope (and its compare scope)."""
    found = {
        "highlights": reports.highlights_with_change(session, scope, compare),
        "as_of": dashboard.data_as_of(session, scope),
        "timeline": reports.timeline(session, scope, p, zone),
        "entries": reports.entries_table(session, scope),
        "top_viewers": reports.top_viewers(session, scope),
        "funnel": reports.funnel(session, scope),
        "milestones": [reports.milestone_reach(session, scope, m) for m in reports.MILESTONES],
        "breakdowns": {d: reports.breakdown(session, scope, d) for d in reports.DIMENSIONS},
        "context": reports.context_split(session, scope),
        "people": reports.people_engagement(session, scope),
        "pages": {d: embeds._page_entries(session, replace(scope, domains=(d or UNKNOWN_DOMAIN,))) for d in DOMAINS},
    }
    if compare is not None:
        found["compare_timeline"] = reports.timeline(session, compare, p.compare, zone)
    return found


def views() -> list[tuple[Filters, str]]:
    """Every preset, custom ranges (one across a daylight-saving change, one ending on a month's last day),
    compare periods, and each single filter."""
    out = [(Filters(preset=preset), zone) for preset in ("last7", "last30", "last3m", "last12m", "creation")
           for zone in ZONES]
    uneven = ("Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe", "America/Chicago")
    out += [(Filters(preset="custom", start=date(2025, 10, 20), end=date(2026, 4, 30)), zone) for zone in uneven]
    out += [(Filters(preset="custom", start=date(2025, 11, 1), end=date(2025, 11, 3), include_today=True), zone)
            for zone in uneven[1:]]
    out += [(Filters(preset=preset, compare=compare), zone) for preset, compare, zone in (
        ("last30", "previous", "Asia/Kolkata"), ("last30", "last_year", "Australia/Lord_Howe"),
        ("last12m", "previous", "Asia/Kathmandu"), ("last12m", "last_year", "America/Chicago"),
        ("last3m", "last_year", "Asia/Kolkata"), ("creation", "previous", "UTC"))]
    singles = [{"context": "inside"}, {"context": "outside"}, {"domains": ("canvas.umn.edu",)},
               {"domains": (UNKNOWN_DOMAIN,)}, {"devices": ("mobile",)}, {"countries": ("US",)},
               {"regions": ("minnesota",)}, {"cities": ("New Delhi",)},
               {"countries": ("US",), "devices": ("desktop",), "context": "outside"}]
    out += [(Filters(preset="last12m", **single), ZONES[n % len(ZONES)]) for n, single in enumerate(singles)]
    out += [(Filters(preset="creation", granularity="day", **singles[4]), "Asia/Kolkata")]
    return out


@settings(max_examples=3)
@given(found=st.lists(facts(), min_size=20, max_size=120))
def test_rollup_answers_equal_the_plays_answers(db, registration, found, monkeypatch):
    entry_ids, gallery_id, person_id = store(db, registration.id, found)
    for filters, zone in views():
        p = period(filters, zone, NOW, since=CREATED)
        scope = _scope(registration.id, entry_ids, filters, p, gallery_id)
        compare = _scope(registration.id, entry_ids, filters, p, gallery_id, True) if p.compare else None
        monkeypatch.setattr(metrics, "READ_ROLLUPS", True)
        assert reads_rollups(db.session, scope)
        from_rollups = answers(db.session, scope, compare, p, zone)
        with metrics.sharing(db.session, scope):   # as a whole page reads them: one pass over the rollups
            shared = answers(db.session, scope, compare, p, zone)
        monkeypatch.setattr(metrics, "READ_ROLLUPS", False)
        from_plays = answers(db.session, scope, compare, p, zone)
        for block in from_plays:
            assert from_rollups[block] == from_plays[block], (block, filters, zone)
            assert shared[block] == from_plays[block], (block, filters, zone, "shared")
    # One entry (the single-media page) and one viewer (My viewing), with their compare periods.
    filters = Filters(preset="last12m", compare="previous")
    for zone in ("Asia/Kolkata", "Australia/Lord_Howe"):
        p = period(filters, zone, NOW, since=CREATED)
        for narrow in ({"entry_ids": entry_ids[:1]}, {"person_ids": (person_id,)}):
            scope = replace(_scope(registration.id, entry_ids, filters, p, gallery_id), **narrow)
            compare = replace(_scope(registration.id, entry_ids, filters, p, gallery_id, True), **narrow)
            monkeypatch.setattr(metrics, "READ_ROLLUPS", True)
            from_rollups = answers(db.session, scope, compare, p, zone)
            with metrics.sharing(db.session, scope):
                shared = answers(db.session, scope, compare, p, zone)
            monkeypatch.setattr(metrics, "READ_ROLLUPS", False)
            from_plays = answers(db.session, scope, compare, p, zone)
            assert from_rollups == from_plays, (narrow, zone)
            assert shared == from_plays, (narrow, zone, "shared")


def test_month_pieces_cover_each_day_once():
    for first, last in ((date(2025, 1, 1), date(2025, 12, 31)), (date(2025, 1, 15), date(2025, 3, 14)),
                        (date(2025, 2, 2), date(2025, 2, 27)), (date(2024, 2, 1), date(2024, 2, 29)),
                        (date(2025, 1, 31), date(2025, 3, 1))):
        covered = []
        for grain, a, b in metrics.rollup_pieces(first, last):
            day = a
            while day <= b:
                if grain == "d":
                    covered.append(day)
                elif day.day == 1:
                    month = day
                    while month.month == day.month:
                        covered.append(month)
                        month += timedelta(days=1)
                day += timedelta(days=1)
        expected = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        assert sorted(covered) == expected, (first, last)


# -- kept at ingest == rebuilt ------------------------------------------------------------------------

def rollup_rows(session, registration_id: int) -> list[tuple]:
    """The registration's rollup rows, ids left out, in a fixed order."""
    columns = ", ".join(rollups.COLUMNS[1:])
    return sorted((tuple(str(v) for v in row) for row in session.execute(text(
        f"SELECT {columns} FROM play_rollup WHERE registration_id = :r"), {"r": registration_id})))


@st.composite
def viewings(draw):
    """Native events of a few viewings (loads, plays, pauses, ends) around local midnights, with places,
    devices and pages."""
    events = []
    for number in range(draw(st.integers(1, 8))):
        start = datetime(2026, 3, 7, tzinfo=timezone.utc) + timedelta(
            days=draw(st.integers(0, 3)), seconds=draw(st.one_of(st.integers(0, 86399), st.sampled_from(MIDNIGHTS))))
        place = draw(st.sampled_from(PLACES))
        common = {"entry_id": f"1_inc{draw(st.integers(0, 2))}", "load_id": f"load-{number}",
                  "page_url": draw(st.sampled_from(("https://canvas.umn.edu/courses/1", "https://example.org/x",
                                                    None))),
                  "user_agent": draw(st.sampled_from(("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
                                                      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"))),
                  "location": {k: v for k, v in zip(("country", "region", "city"), place) if v} or None,
                  "playback_context": draw(st.sampled_from((None, "gallery-1")))}
        user = draw(st.sampled_from((None, "sub:a", "sub:b", "sub:c")))
        if user:
            common["user"] = user
        common = {k: v for k, v in common.items() if v is not None}
        events.append({"id": f"v{number}-load", "type": "impression", "time": start.isoformat(), **common})
        at = start
        for play in range(draw(st.integers(0, 2))):
            at += timedelta(seconds=draw(st.integers(1, 40000)))
            events.append({"id": f"v{number}-p{play}", "type": "play", "time": at.isoformat(), "position": 0,
                           "play_id": f"v{number}-play-{play}", **common})
            watched = draw(st.integers(1, 60))
            events.append({"id": f"v{number}-p{play}-end", "type": draw(st.sampled_from(("pause", "ended"))),
                           "time": (at + timedelta(seconds=watched)).isoformat(), "position": watched,
                           "play_id": f"v{number}-play-{play}", **common})
    return events


@settings(max_examples=8)
@given(events=viewings(), rng=st.randoms(use_true_random=False))
def test_rollups_kept_at_ingest_equal_rebuilt_ones(db, registration, client, events, rng):
    for model in (PlayRollup, RollupZone):
        db.session.execute(delete(model).where(model.registration_id == registration.id))
    db.session.info.pop("rollup_zones", None)
    for zone in ZONES:  # kept from the start, as after a first use
        assert rollups.ensure_zone(db.session, registration.id, zone)
    headers = bearer(registration.id)
    tag = rng.randrange(10**9)
    sent = [{**e, "id": f"{tag}-{e['id']}", **({"play_id": f"{tag}-{e['play_id']}"} if "play_id" in e else {}),
             "load_id": f"{tag}-{e['load_id']}"} for e in events]
    delivered = [e for e in sent for _ in range(1 + (rng.random() < 0.4))]
    rng.shuffle(delivered)
    while delivered:
        size = rng.randint(1, 6)
        response = client.post("/api/v1/events", headers=headers, json={"version": 1, "events": delivered[:size]})
        assert response.status_code == 200, response.text
        delivered = delivered[size:]
    kept = rollup_rows(db.session, registration.id)
    assert kept or not any(e["type"] == "impression" for e in events)
    rebuild(registration.id)
    assert rollup_rows(db.session, registration.id) == kept


def test_the_rebuild_command_rebuilds_every_zone_kept(db, registration, runner):
    ingest(registration.id, EVENTS)
    assert rollups.ensure_zone(db.session, registration.id, "Asia/Kathmandu")
    kept = rollup_rows(db.session, registration.id)
    db.session.execute(delete(PlayRollup).where(PlayRollup.registration_id == registration.id))
    result = runner.invoke(args=["analytics", "rebuild", "--registration", str(registration.id)])
    assert result.exit_code == 0, result.output
    assert kept and rollup_rows(db.session, registration.id) == kept


# -- pages read rollups --------------------------------------------------------------------------------

RAW_TABLES = re.compile(r"\b(from|join)\s+(play|player_load)\b", re.IGNORECASE)


def test_a_gallery_page_reads_no_plays_once_its_zone_is_built(launch_as, db, registration, monkeypatch):
    teacher = launch_as("teacher")
    ingest(registration.id, EVENTS)
    add_to_gallery(db.session, teacher.course, "1_e1")
    url = f"/courses/{teacher.course.id}/gallery/?range=last12m&compare=previous"
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)
    bind = db.session.get_bind()
    event.listen(bind, "before_cursor_execute", record)
    try:
        monkeypatch.setattr(metrics, "READ_ROLLUPS", False)
        assert teacher.get(url).status_code == 200
        from_plays = [s for s in seen if RAW_TABLES.search(s)]
        monkeypatch.setattr(metrics, "READ_ROLLUPS", True)
        assert teacher.get(url).status_code == 200  # builds the course's zone
        seen.clear()
        page = teacher.get(url)
        assert page.status_code == 200
        from_rollups = [s for s in seen if RAW_TABLES.search(s)]
    finally:
        event.remove(bind, "before_cursor_execute", record)
    assert len(from_plays) >= 20
    assert from_rollups == []
    reads = [s for s in seen if "play_rollup" in s]
    # The total and every single-column breakdown in one pass (metrics.sharing); then the compare period's
    # total, the two timelines, the funnel and the people's completion.
    assert sum("GROUPING SETS" in s for s in reads) == 1
    assert len(reads) <= 7, "\n\n".join(reads)
