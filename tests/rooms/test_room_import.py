"""`flask ingest import FILE --format rooms`: room events from a JSON-lines file, in order, in batches."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from lti_tool.ingest.importer import ImportFailed, guess_format
from lti_tool.models import Attendance, Reaction, RoomSession

from .test_room_ingest import SESSION
from .test_room_ingest_more import GOOD, STORED, counts


def run(runner, registration, path, *extra):
    return runner.invoke(args=["ingest", "import", str(path), "--registration", str(registration.id), *extra])


def write(path: Path, lines: list) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def rejects_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_session_file_in_small_batches(runner, db, registration, tmp_path):
    # Batches of 3: most facts name a session, join or interaction an earlier batch stored.
    path = write(tmp_path / "week1.jsonl", SESSION)
    result = run(runner, registration, path, "--format", "rooms", "--batch-size", "3")
    assert result.exit_code == 0, result.output
    assert f"accepted {len(SESSION)}, duplicates 0, rejected 0, ignored 0, throttled 2" in result.output
    assert not (tmp_path / "week1.jsonl.rejects.jsonl").exists()
    left = dict(db.session.execute(select(Attendance.event_key, Attendance.left_at)).all())
    assert left["j-ana"] is not None and left["j-ana-rec"] is None
    # The throttle reads every stored reaction, whichever batch brought it.
    assert dict(db.session.execute(select(Reaction.event_key, Reaction.throttled)).all()) == {
        "re-1": False, "re-2": True, "re-3": True, "re-4": False, "re-ben": False}

    before = counts(db)
    again = run(runner, registration, path, "--format", "rooms")
    assert f"accepted 0, duplicates {len(SESSION)}, rejected 0, ignored 0, throttled 0" in again.output
    assert counts(db) == before


def test_bad_lines_go_to_the_rejects_file(runner, db, registration, tmp_path):
    orphan = {**GOOD["chat"], "id": "c-orphan", "session": "ghost"}
    orphan_leave = {"id": "l-orphan", "type": "leave", "time": "2026-10-05T10:30:00Z", "join": "j-orphan"}
    orphan_join = {"id": "j-orphan", "type": "join", "time": "2026-10-05T10:20:00Z", "session": "ghost"}
    lines = [*STORED,                                  # lines 1-4
             '{"id": "broken", ',                      # 5: not JSON
             "",                                       # 6: blank, skipped
             {**GOOD["message"], "kind": "shout"},     # 7: a bad value
             orphan,                                   # 8: names a session nobody described
             orphan_join, orphan_leave,                # 9, 10: a join of that session and its leave
             GOOD["message"], GOOD["connection"],      # 11, 12
             GOOD["session"]]                          # 13
    path = write(tmp_path / "feed.jsonl", lines)
    result = run(runner, registration, path, "--format", "rooms", "--batch-size", "100")
    assert result.exit_code == 0, result.output
    assert "accepted 7, duplicates 0, rejected 5, ignored 0, throttled 0" in result.output
    assert "rejected lines written to" in result.output
    rejects = sorted(rejects_of(tmp_path / "feed.jsonl.rejects.jsonl"), key=lambda r: r["line"])
    assert [r["line"] for r in rejects] == [5, 7, 8, 9, 10]
    assert "not valid JSON" in rejects[0]["reason"]
    assert "kind must be one of moderator, private" in rejects[1]["reason"]
    assert "session 'ghost' is unknown" in rejects[2]["reason"] and json.loads(rejects[2]["raw"]) == orphan
    assert "session 'ghost' is unknown" in rejects[3]["reason"]
    assert "join 'j-orphan' is unknown" in rejects[4]["reason"]  # its join was rejected first
    names = set(db.session.scalars(select(RoomSession.external_id)))
    assert names == {"main", "breakout-a"}


def test_a_failing_batch_stops_the_import_and_keeps_the_batches_before(runner, db, registration, tmp_path,
                                                                        monkeypatch):
    from lti_tool.ingest import importer

    calls = []

    def failing(registration_id, events, **kwargs):
        calls.append(len(events))
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(registration_id, events, **kwargs)

    real = importer.accept_room_events
    monkeypatch.setattr(importer, "accept_room_events", failing)
    path = write(tmp_path / "feed.jsonl", STORED + [GOOD["message"], GOOD["connection"]])
    result = run(runner, registration, path, "--format", "rooms", "--batch-size", "4")
    assert result.exit_code == 1
    assert "storing a batch failed (RuntimeError: database went away)" in result.output
    assert "accepted 4, duplicates 0, rejected 0, ignored 0, throttled 0" in result.output
    assert set(db.session.scalars(select(RoomSession.external_id))) == {"main"}


@pytest.mark.parametrize("name, fmt", [("week1.rooms.jsonl", "rooms"), ("week1.ROOMS", "rooms"),
                                       ("week1.jsonl", "jsonl"), ("rooms.jsonl", "jsonl")])
def test_rooms_is_guessed_only_from_an_explicit_suffix(name, fmt):
    assert guess_format(Path(name)) == fmt


def test_an_unsuffixed_file_needs_a_format(tmp_path):
    with pytest.raises(ImportFailed, match="rooms"):
        guess_format(tmp_path / "feed")
