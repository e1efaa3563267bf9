"""`flask ingest import`: every format from a file, rejects written, re-imports all duplicates."""
from __future__ import annotations

import csv
import json
import uuid

from sqlalchemy import func, select

from lti_tool.ingest import rollups
from lti_tool.models import MediaEntry, Play, PlayerEvent, PlayerLoad

from .dataset import EVENTS, utc_day_totals
from .test_standards import VIDEO, envelope, media_event, video_session


def counts(db):
    return tuple(db.session.scalar(select(func.count()).select_from(m))
                 for m in (PlayerEvent, Play, PlayerLoad, MediaEntry))


def run(runner, registration, path, *extra):
    return runner.invoke(args=["ingest", "import", str(path), "--registration", str(registration.id), *extra])


def rejects_of(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_dataset_derived(db):
    """The hand-computed facts of tests/ingest/dataset.py, derived once after the last batch."""
    plays = {p.play_key: p.seconds_viewed for p in db.session.scalars(select(Play))}
    assert plays == {"native:A": 50.0, "native:B": 60.0, "native:C": 20.0, "native:D": 25.0}
    assert rollups.ensure_zone(db.session, db.session.scalar(select(Play.registration_id)), "UTC")
    assert utc_day_totals(db.session) == (6, 4, 1, 155.0)


def test_jsonl_in_batches_with_bad_lines(runner, db, registration, tmp_path):
    lines = [json.dumps(e) for e in EVENTS[:5]]
    lines += ['{"id": "broken", ', "", json.dumps({"id": "x", "type": "teleport"})]
    lines += [json.dumps(e) for e in EVENTS[5:]]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run(runner, registration, path, "--batch-size", "4")
    assert result.exit_code == 0, result.output
    assert "accepted 15, duplicates 0, rejected 2, ignored 0" in result.output
    assert_dataset_derived(db)
    rejects = rejects_of(tmp_path / "events.jsonl.rejects.jsonl")
    assert [(r["line"], r["raw"]) for r in rejects] == [(6, '{"id": "broken", '), (8, lines[7])]
    assert "not valid JSON" in rejects[0]["reason"] and "type must be one of" in rejects[1]["reason"]

    before = counts(db)
    again = run(runner, registration, path, "--rejects", str(tmp_path / "again.jsonl"))
    assert "accepted 0, duplicates 15, rejected 2, ignored 0" in again.output
    assert counts(db) == before
    assert len(rejects_of(tmp_path / "again.jsonl")) == 2


def test_csv_with_json_columns(runner, db, registration, tmp_path):
    columns = ["id", "type", "time", "entry_id", "user", "play_id", "load_id", "position", "seek_to", "duration",
               "page_url", "segments"]
    path = tmp_path / "events.csv"
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(EVENTS)
        writer.writerow({"id": "bad", "type": "pause", "time": "2026-10-05T16:00:00Z", "entry_id": "1_e1",
                         "position": "ten"})
        writer.writerow({"id": "segs", "type": "view", "time": "2026-10-05T16:00:00Z", "entry_id": "1_e2",
                         "segments": "[[0, 5], [10, 20]]"})
    result = run(runner, registration, path)
    assert result.exit_code == 0, result.output
    assert "accepted 16, duplicates 0, rejected 1, ignored 0" in result.output
    assert_dataset_derived(db)
    stored = db.session.scalar(select(PlayerEvent).where(PlayerEvent.event_key == "native:segs"))
    assert stored.segments == [[0, 5], [10, 20]]
    [reject] = rejects_of(tmp_path / "events.csv.rejects.jsonl")
    assert reject["line"] == 17 and reject["reason"] == "position must be a number"
    assert reject["raw"].startswith("bad,pause,2026-10-05T16:00:00Z,1_e1")


def test_csv_with_unknown_columns_stores_nothing(runner, db, registration, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("id,type,time,entry_id,colour\nx,play,2026-10-05T10:00:00Z,1_e1,red\n")
    result = run(runner, registration, path)
    assert result.exit_code == 1 and "unknown column(s) colour" in result.output
    assert counts(db) == (0, 0, 0, 0)


def test_caliper_envelopes(runner, db, registration, tmp_path):
    good = envelope(media_event("Started", "10:00:00", "PT0S"), media_event("Paused", "10:01:00", "PT1M"),
                    {"id": "https://example.edu/videos/1225", "type": "VideoObject"})
    bad = envelope(media_event("Resumed", "10:02:00", "PT5X"))
    unsupported = envelope(media_event("Resumed", "10:02:00", "PT1M"), version="http://example.edu/v9")
    path = tmp_path / "feed.caliper.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in (good, bad, unsupported)) + "\n")
    result = run(runner, registration, path)
    assert result.exit_code == 0, result.output
    assert "accepted 2, duplicates 0, rejected 2, ignored 1" in result.output
    play = db.session.scalar(select(Play))
    assert (play.play_key, play.seconds_viewed) == (f"caliper:https://example.edu/sessions/s1:{VIDEO['id']}", 60.0)
    rejects = rejects_of(tmp_path / "feed.caliper.jsonl.rejects.jsonl")
    assert [r["line"] for r in rejects] == [2, 3]
    assert "item 0: target.currentTime 'PT5X'" in rejects[0]["reason"]
    assert "dataVersion must be one of" in rejects[1]["reason"]
    assert "accepted 0, duplicates 2, rejected 2, ignored 1" in run(runner, registration, path).output


def test_xapi_statements_and_lists(runner, db, registration, tmp_path):
    session = video_session("import-session")
    lines = [json.dumps(session[:3]), *(json.dumps(s) for s in session[3:]), json.dumps({"verb": "played"})]
    path = tmp_path / "statements.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run(runner, registration, path, "--format", "xapi", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert "accepted 6, duplicates 0, rejected 1, ignored 1" in result.output
    play = db.session.scalar(select(Play))
    assert (play.seconds_viewed, play.segments, play.reached_end) == (37.0, [[0.0, 30.0]], True)
    assert db.session.scalar(select(func.count()).select_from(PlayerLoad)) == 1
    before = counts(db)
    assert "accepted 0, duplicates 6, rejected 1, ignored 1" in run(runner, registration, path, "--format", "xapi").output
    assert counts(db) == before


def kava_file(tmp_path):
    session = str(uuid.uuid4())
    common = f"partnerId=1&entryId=1_kava&sessionId={session}&playbackType=vod"
    path = tmp_path / "beacons.kava"
    path.write_text("\n".join([
        f"eventType=1&eventIndex=1&position=0&{common}&received_at=2026-10-05T10:00:00Z",
        json.dumps({"eventType": 3, "eventIndex": 2, "position": 0, "partnerId": 1, "entryId": "1_kava",
                    "sessionId": session, "received_at": "2026-10-05T10:00:02Z", "user": "sub:viewer"}),
        f"eventType=33&eventIndex=3&position=40&{common}&received_at=2026-10-05T10:00:42Z",
        f"eventType=41&eventIndex=4&position=40&{common}&received_at=2026-10-05T10:00:43Z",  # speed: ignored
        "{not json",
    ]) + "\n")
    return path


def test_kava_beacons(runner, db, registration, tmp_path):
    result = run(runner, registration, kava_file(tmp_path))
    assert result.exit_code == 0, result.output
    assert "accepted 3, duplicates 0, rejected 1, ignored 1" in result.output
    events = db.session.scalars(select(PlayerEvent).order_by(PlayerEvent.occurred_at)).all()
    assert [(e.event_type, e.occurred_at.second) for e in events] == [("impression", 0), ("play", 2), ("pause", 42)]
    play = db.session.scalar(select(Play))
    assert (play.seconds_viewed, play.segments) == (40.0, [[0.0, 40.0]])
    assert db.session.scalar(select(func.count()).select_from(PlayerLoad)) == 1


def test_kava_reimport_is_all_duplicates(runner, db, registration, tmp_path):
    path = kava_file(tmp_path)
    run(runner, registration, path)
    assert "accepted 0, duplicates 3" in run(runner, registration, path).output


def test_unknown_registration_and_missing_or_unnamed_files(runner, db, registration, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(EVENTS[0]) + "\n")
    unknown = runner.invoke(args=["ingest", "import", str(path), "--registration", "9999"])
    assert unknown.exit_code == 1 and "no registration with id 9999" in unknown.output
    missing = run(runner, registration, tmp_path / "nowhere.jsonl")
    assert missing.exit_code == 2 and "does not exist" in missing.output
    unnamed = tmp_path / "events.txt"
    unnamed.write_text(json.dumps(EVENTS[0]) + "\n")
    guess = run(runner, registration, unnamed)
    assert guess.exit_code == 1 and "pass --format" in guess.output
    assert counts(db) == (0, 0, 0, 0)


def test_an_overlong_or_undecodable_line_is_rejected(runner, db, registration, tmp_path, app, monkeypatch):
    monkeypatch.setitem(app.config, "INGEST_MAX_BYTES", 400)
    path = tmp_path / "events.jsonl"
    long_event = dict(EVENTS[1], page_url="https://example.edu/" + "a" * 500)
    path.write_bytes(b"\n".join([json.dumps(EVENTS[0]).encode(), json.dumps(long_event).encode(),
                                 b'{"id": "\xff"}', json.dumps(EVENTS[2]).encode()]) + b"\n")
    result = run(runner, registration, path)
    assert "accepted 2, duplicates 0, rejected 2, ignored 0" in result.output
    rejects = rejects_of(tmp_path / "events.jsonl.rejects.jsonl")
    assert [(r["line"], r["reason"]) for r in rejects] == [(2, "the line is longer than 400 bytes"),
                                                           (3, "the line is not UTF-8")]
