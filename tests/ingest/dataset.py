"""A small data set whose metrics are computed by hand in the tests.

Entry E1 is 100 s long. Four plays, six player impressions:
- play A, person p1: play at 0, pause at 50           -> [0, 50]: 50 s, percentiles 0-50 (51), quartiles 25, 50
- play B, person p1: play at 40, ended at 100          -> [40, 100]: 60 s, percentiles 40-100 (61), all 4 quartiles
- play C, person p2: play at 0, seek 10 -> 80, pause 90 -> [0, 10] + [80, 90]: 20 s, 11 + 11 = 22 percentiles,
                                                          furthest 90 -> quartiles 25, 50, 75
- play D, anonymous: play at 0, pause at 25            -> [0, 25]: 25 s, percentiles 0-25 (26), quartile 25
- impressions: p1 twice, p2 once, anonymous twice, p3 once (p3 never plays)
"""
from __future__ import annotations

DAY = "2026-10-05"
P1, P2, P3 = "sub:person-one", "sub:person-two", "sub:person-three"


def event(event_id, kind, clock, *, play=None, user=None, position=None, **extra):
    data = {"id": event_id, "type": kind, "time": f"{DAY}T{clock}Z", "entry_id": "1_e1", "duration": 100}
    if play:
        data["play_id"] = play
    if user:
        data["user"] = user
    if position is not None:
        data["position"] = position
    data.update(extra)
    return data


EVENTS = [
    event("i1", "impression", "10:00:00", user=P1, load_id="l1", page_url="https://canvas.umn.edu/courses/1/pages/week-1",
          user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
          ip="8.8.8.8"),
    event("a1", "play", "10:00:05", play="A", user=P1, position=0, load_id="l1"),
    event("a2", "pause", "10:00:55", play="A", user=P1, position=50),
    event("i2", "impression", "11:00:00", user=P1, load_id="l2"),
    event("b1", "play", "11:00:05", play="B", user=P1, position=40, load_id="l2"),
    event("b2", "ended", "11:01:05", play="B", user=P1, position=100),
    event("i3", "impression", "12:00:00", user=P2, load_id="l3"),
    event("c1", "play", "12:00:05", play="C", user=P2, position=0, load_id="l3"),
    event("c2", "seek", "12:00:15", play="C", user=P2, position=10, seek_to=80),
    event("c3", "pause", "12:00:25", play="C", user=P2, position=90),
    event("i4", "impression", "13:00:00", load_id="l4"),
    event("d1", "play", "13:00:05", play="D", position=0, load_id="l4"),
    event("d2", "pause", "13:00:30", play="D", position=25),
    event("i5", "impression", "14:00:00", load_id="l5"),
    event("i6", "impression", "15:00:00", user=P3, load_id="l6"),
]

EXPECTED = {
    "impressions": 6,
    "plays": 4,
    "played_entries": 1,
    "unique_viewers": 2,
    "anonymous_plays": 1,
    "minutes_viewed": round((50 + 60 + 20 + 25) / 60, 4),
    "avg_minutes_per_play": round((50 + 60 + 20 + 25) / 60 / 4, 4),
    "avg_completion_rate": (51 + 61 + 22 + 26) / 4,       # 40.0
    "avg_drop_off": ((2 + 4 + 3 + 1) / 4) / 4,             # 0.625
    "play_through_ratio": 1 / 4,
    "load_play_ratio": 4 / 6,
}


# A play at 23:30 on Oct 4 in Chicago, which is Oct 5 04:30 in UTC: its day depends on the time zone.
LATE_PLAY = {"id": "late-play", "type": "play", "time": "2026-10-05T04:30:00Z", "entry_id": "1_e1", "play_id": "L",
             "position": 0, "duration": 100}
LATE_PAUSE = {"id": "late-pause", "type": "pause", "time": "2026-10-05T04:31:00Z", "entry_id": "1_e1", "play_id": "L",
              "position": 60}


def utc_day_totals(session) -> tuple:
    """Impressions, plays, completed plays and seconds in the UTC day rollups (ingest/rollups.py)."""
    from sqlalchemy import text

    return tuple(session.execute(text(
        "SELECT coalesce(sum(impressions), 0), coalesce(sum(plays), 0), coalesce(sum(completed_plays), 0), "
        "coalesce(sum(seconds_viewed), 0) FROM play_rollup WHERE zone = 'UTC' AND grain = 'd'")).one())
