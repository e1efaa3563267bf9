"""Raw events by month and `flask analytics retention`: dropping old raw events changes no page.

A semester of plays across several months (one play straddling the cut) is stored; the gallery
page, the single-media page and every course and entry report of the report API are read in two
time zones (one a half-hour one); retention drops the raw events of the months before the last
one; everything is read again and must be identical, and again after `flask analytics rebuild`
and after late events (of the dropped months, and of a play that began before the cut).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from lti_tool.ingest import retention
from lti_tool.models import Play, PlayerEvent, PlayerEventKey, RawRetention
from lti_tool.views.api.reports import REPORTS

from ..support.factories import add_to_gallery, ingest, make_play

CUT = retention.cutoff(1)  # the start of last month: what retention --keep-raw-months 1 keeps
ENTRIES = ("1_r1", "1_r2", "1_r3")
USERS = ("canvas:s1", "canvas:s2", "canvas:s3", "canvas:s4", None)
ZONES = ("America/Chicago", "Asia/Kolkata")
EXTRA = {"page-urls": {"domain": "canvas.test.edu"}, "embed-pages": {"domain": "canvas.test.edu"}}


def semester() -> list[dict]:
    """Plays every 41 hours from 110 days before the cut to yesterday, over three entries and five
    viewers (one anonymous); and one play that starts a minute before the cut and ends after it."""
    start, end = CUT - timedelta(days=110), datetime.now(timezone.utc) - timedelta(days=1)
    events, index, at = [], 0, start
    while at < end:
        events += make_play(index, at, entry=ENTRIES[index % 3], user=USERS[index % 5],
                            page_url="https://canvas.test.edu/courses/1" if index % 4 else None)
        index, at = index + 1, at + timedelta(hours=41)
    events += straddling()
    return events


def straddling() -> list[dict]:
    at = CUT - timedelta(seconds=20)
    stamp = lambda seconds: (at + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")  # noqa: E731
    common = {"entry_id": "1_r1", "duration": 100, "load_id": "lx", "user": "canvas:s1"}
    return [dict(common, id="ix", type="impression", time=stamp(0)),
            dict(common, id="px", type="play", time=stamp(5), play_id="PX", position=0),
            dict(common, id="qx", type="pause", time=stamp(60), play_id="PX", position=55)]


def visible_text(html: str) -> str:
    text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip()


def numbers(client, auth, teacher, course) -> dict:
    """Every page and report answer the test compares."""
    first, last = (CUT - timedelta(days=120)).date().isoformat(), datetime.now(timezone.utc).date().isoformat()
    seen = {}
    for zone in ZONES:
        query = f"range=custom&from={first}&to={last}&tz={zone}"
        for name in ("gallery", *[f"entries/{e}" for e in ENTRIES]):
            response = teacher.get(f"/courses/{course.id}/{name}/?{query}")
            assert response.status_code == 200, response.text
            seen[(zone, name)] = visible_text(response.text)
        for name, report in REPORTS.items():
            if "room" in report.subjects:
                continue
            targets = ([{"course": course.id}] if "course" in report.subjects else []) + (
                [{"entry": e} for e in ENTRIES] if "entry" in report.subjects else [])
            for target in targets:
                response = client.get(f"/api/v1/reports/{name}", headers=auth, query_string={
                    "range": "custom", "from": first, "to": last, "tz": zone, **target, **EXTRA.get(name, {})})
                assert response.status_code == 200, (name, response.text)
                seen[(zone, name, tuple(target.items()))] = response.get_json()["data"]
    return seen


def test_retention_keeps_every_page_and_report(db, registration, launch_as, client, auth, runner):
    teacher = launch_as("teacher")
    course = teacher.course
    ingest(registration.id, semester())
    add_to_gallery(db.session, course, *ENTRIES)
    before = numbers(client, auth, teacher, course)
    registration_id = course.registration_id
    plays = db.session.scalar(select(func.count(Play.id)))
    assert plays > 50 and db.session.scalar(select(func.min(PlayerEvent.occurred_at))) < CUT - timedelta(days=100)
    keys = db.session.scalar(select(func.count()).select_from(PlayerEventKey))

    result = runner.invoke(args=["analytics", "retention", "--keep-raw-months", "1"])
    assert result.exit_code == 0, result.output
    assert "raw events kept from" in result.output
    assert db.session.scalar(select(func.min(PlayerEvent.occurred_at))) >= CUT  # the old months are gone
    assert db.session.get(RawRetention, registration_id).kept_from == CUT
    assert db.session.scalar(select(func.count(Play.id))) == plays
    assert numbers(client, auth, teacher, course) == before

    # A rebuild from what is left keeps what was dropped as it was.
    result = runner.invoke(args=["analytics", "rebuild"])
    assert result.exit_code == 0, result.output
    assert numbers(client, auth, teacher, course) == before

    # Late events: re-sent ones of any age are duplicates; new ones from a dropped month are not
    # stored; a late event of the play that began before the cut is stored but leaves the play as it was.
    again = ingest(registration_id, semester()[:9] + semester()[-6:-3])
    assert (again.accepted, again.duplicates, again.ignored) == (0, 3, 9)
    old = make_play(9000, CUT - timedelta(days=40), entry="1_r2", user="canvas:s2")
    straddler = {"entry_id": "1_r1", "duration": 100, "load_id": "lx", "user": "canvas:s1", "id": "ex",
                 "type": "ended", "play_id": "PX", "position": 100,
                 "time": (CUT + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")}
    late = ingest(registration_id, old + [straddler])
    assert (late.accepted, late.ignored) == (1, 3)
    assert db.session.scalar(select(func.count()).select_from(PlayerEventKey)) == keys + 1
    assert numbers(client, auth, teacher, course) == before


def test_retention_of_one_registration_deletes_its_rows_only(db, registration, runner):
    from ..support.factories import another_tenant

    other = another_tenant()
    ingest(registration.id, make_play(1, CUT - timedelta(days=50)) + make_play(2, CUT + timedelta(days=1)))
    ingest(other.id, make_play(1, CUT - timedelta(days=50)))
    result = runner.invoke(args=["analytics", "retention", "--keep-raw-months", "1",
                                 "--registration", str(registration.id)])
    assert result.exit_code == 0, result.output
    count = lambda reg: db.session.scalar(select(func.count(PlayerEvent.id)).where(  # noqa: E731
        PlayerEvent.registration_id == reg))
    assert (count(registration.id), count(other.id)) == (3, 3)
    assert db.session.get(RawRetention, other.id) is None
    assert db.session.scalar(select(func.count(Play.id)).where(Play.registration_id == registration.id)) == 2
    refused = runner.invoke(args=["analytics", "retention", "--keep-raw-months", "0"])
    assert refused.exit_code != 0


def test_a_kava_stream_cut_by_retention_keeps_its_play(db, registration, runner):
    from lti_tool.ingest import kava
    from lti_tool.ingest.pipeline import accept
    from lti_tool.models import CutStream

    def beacon(index: int, event: int, seconds: float, play_time: float | None = None):
        moment = CUT + timedelta(seconds=seconds)
        params = {"eventType": str(event), "entryId": "1_k", "sessionId": "s-cut", "eventIndex": str(index),
                  "partnerId": "1", "position": str(max(seconds + 40, 0)), "eventTime": str(moment.timestamp())}
        if play_time is not None:
            params["playTimeSum"] = str(play_time)
        return kava.beacon_to_event(registration.id, params, received_at=moment, ip=None, user_agent=None, user=None)

    # A play before the cut and a replay after it, in one player session.
    accept(registration.id, [beacon(1, kava.PLAY, -40), beacon(2, kava.VIEW, -30, 10), beacon(3, kava.VIEW, -20, 20),
                             beacon(4, kava.REPLAY, 5), beacon(5, kava.VIEW, 10, 30)], "kava")
    plays = db.session.execute(select(Play.play_key, Play.seconds_viewed).order_by(Play.play_key)).all()
    assert [seconds for _key, seconds in plays] == [20, 10]
    result = runner.invoke(args=["analytics", "retention", "--keep-raw-months", "1"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(CutStream.stream_key)) is not None
    # Assigned again from what is left, the replay would become the stream's first play and its VIEW
    # would count 30 s: instead the late beacon is stored as sent, in no play.
    late = accept(registration.id, [beacon(6, kava.VIEW, 20, 40)], "kava")
    assert late.accepted == 1
    assert db.session.scalar(select(PlayerEvent.play_key).where(PlayerEvent.seq == 6)) is None
    assert db.session.execute(select(Play.play_key, Play.seconds_viewed).order_by(Play.play_key)).all() == plays
    assert runner.invoke(args=["analytics", "rebuild"]).exit_code == 0
    assert db.session.execute(select(Play.play_key, Play.seconds_viewed).order_by(Play.play_key)).all() == plays
