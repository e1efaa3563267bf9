"""`schema.native_event` reads plain events in one pass and hands the rest to the rules
(`checked_native_event`): whatever arrives, it answers exactly what the rules answer, the same event
or the same InvalidEvent message."""
from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from lti_tool.ingest.schema import NATIVE_FIELDS, InvalidEvent, checked_native_event, native_event

from ..support.hostile import FUZZ, examples, json_values, numbers, texts

PLAIN = {"id": "n1", "type": "play", "time": "2026-10-05T10:00:00Z", "entry_id": "1_e1", "user": "sub:ana",
         "play_id": "p1", "load_id": "l1", "seq": 1, "position": 12.5, "seconds_viewed": 10, "seek_to": 3,
         "playback_type": "vod", "playback_context": "gallery-1", "page_url": "https://canvas.test.edu/courses/1",
         "user_agent": "Mozilla/5.0", "ip": "8.8.8.8", "duration": 100, "entry_name": "Week 1",
         "media_type": "video", "location": {"country": "us", "region": "MN", "city": "X"}}

# Values near every limit and rule of a field, besides hostile ones.
EDGES = st.sampled_from([
    None, "", " ", 0, -0.0, 0.0005, 0.001, 86400, 86400.5, 864000, 864000.1, 2**31 - 1, 2**31, True, False,
    float("nan"), float("inf"), -math.inf, 1e308, 10**400, "x" * 64, "x" * 65, "x" * 200, "x" * 201, "x" * 255,
    "x" * 256, "x" * 300, "x" * 301, "x" * 500, "x" * 501, "x" * 1000, "x" * 1001, "x" * 4000, "x" * 4001,
    "a\tb", "a\nb", "a\x00b", "a\x01b", "a\x7fb", "a\ud800b", "\u2028", "sub:", ":x", "sub:x", "canvas:7",
    "nobody:x", "play", "impression", "view", "vod", "live", "dvr", "VOD", "audio", "quiz", "movie",
    "2026-10-05T10:00:00", "2026-10-05T10:00:00+05:30", "1700000000", 1700000000, 1700000000.5, -1,
    "9999-12-31T23:59:59-05:00", [], {}, [[0, 10]], [[10, 0]], {"note": "x"}, {"n": float("nan")},
    {"country": "US"}, {"country": "usa"}, {"country": "1A"}, {"country": ""}, {"country": "ÉÉ"},
    {"country": "US", "region": "x" * 129}, {"region": "", "city": None}, {"planet": "Mars"},
    {"country": "U\x00"}, {"city": "a\ud800"},
])
values = st.one_of(EDGES, texts, numbers, json_values)
changes = st.dictionaries(st.sampled_from(sorted(NATIVE_FIELDS) + ["color"]), values, max_size=4)


def answer(read, raw):
    try:
        return read(raw)
    except InvalidEvent as exc:
        return f"InvalidEvent: {exc}"


@settings(FUZZ, max_examples=examples(600))
@given(changes=changes, dropped=st.sets(st.sampled_from(sorted(PLAIN)), max_size=3))
def test_native_event_answers_as_the_rules_do(changes, dropped):
    raw = {name: value for name, value in PLAIN.items() if name not in dropped}
    raw.update(changes)
    assert answer(native_event, raw) == answer(checked_native_event, raw)


@given(raw=st.one_of(json_values, st.dictionaries(st.sampled_from(sorted(NATIVE_FIELDS)), values)))
@settings(FUZZ, max_examples=examples(300))
def test_anything_at_all(raw):
    assert answer(native_event, raw) == answer(checked_native_event, raw)


def test_a_plain_event_is_read_as_the_rules_read_it():
    event = native_event(dict(PLAIN))
    assert event == checked_native_event(dict(PLAIN))
    assert event.key == "native:n1" and event.location == ("US", "MN", "X") and event.position == 12.5
    assert native_event({"id": "n1", "type": "play", "time": 1.7e9, "entry_id": "e", "location": {}}).location == (
        None, None, None)
