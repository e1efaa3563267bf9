"""From one play's events to its facts. Pure: the pipeline and `flask analytics rebuild` both call it,
so numbers are the same however they were computed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

QUARTILES = {"quartile_25": 25, "quartile_50": 50, "quartile_75": 75, "quartile_100": 100}
OPENS = ("play", "resume")
CLOSES = ("pause", "ended")
# A position this close to the end counts as the end (players rarely report the last frame).
END_TOLERANCE_SECONDS = 1.0


class EventLike(Protocol):
    event_type: str
    position: float | None
    seconds_viewed: float | None
    segments: list | None
    seek_to: float | None


@dataclass(frozen=True)
class PlayFacts:
    seconds_viewed: float          # seconds of playback (rewatching counts again)
    segments: list                 # merged watched intervals [[start, end], ...] in seconds
    percentiles: str | None        # 101 chars of "0"/"1"; None when the duration is unknown
    percentile_count: int          # distinct percentiles (0-100) watched
    quartile_events: int           # quartile marks reached, 0-4
    highest_quartile: int          # 0, 25, 50, 75 or 100
    reached_end: bool


def merge(intervals: Sequence[Sequence[float]]) -> list[list[float]]:
    """Union of intervals, sorted, touching ones joined; an interval of no length watched nothing
    (a seek right after a seek, a pause right after a resume) and is left out."""
    merged: list[list[float]] = []
    for start, end in sorted((float(a), float(b)) for a, b in intervals if b > a):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def percentile_bits(segments: Sequence[Sequence[float]], duration: float | None) -> str | None:
    """Percentiles 0-100 covered by the segments: percentile p spans [p%, (p+1)%) of the duration."""
    if not duration or duration <= 0:
        return None
    bits = ["0"] * 101
    for start, end in segments:
        first = max(0, min(100, int(start / duration * 100)))
        if end >= duration - END_TOLERANCE_SECONDS:
            last = 100
        else:
            last = max(0, min(100, int(end / duration * 100)))
        for p in range(first, last + 1):
            bits[p] = "1"
    return "".join(bits)


def watched_intervals(events: Sequence[EventLike]) -> tuple[list[tuple[float, float]], float]:
    """Intervals played and seconds of playback.

    Explicit intervals (xAPI played-segments, Kava VIEW deltas as [position - delta, position]) are
    used when a feed sends them; otherwise they are rebuilt from transitions: playing from a play,
    resume or seek target until the next pause, seek, end or play.
    """
    explicit: list[tuple[float, float]] = []
    seconds_reported = 0.0
    has_reported = False
    rebuilt: list[tuple[float, float]] = []
    playing_from: float | None = None
    for event in events:
        if event.segments:
            explicit.extend((float(a), float(b)) for a, b in event.segments)
        if event.seconds_viewed is not None:
            has_reported = True
            seconds_reported += event.seconds_viewed
            if event.position is not None and event.event_type == "view" and not event.segments:
                explicit.append((max(0.0, event.position - event.seconds_viewed), event.position))
        kind, position = event.event_type, event.position
        if kind in OPENS:
            if playing_from is not None and position is not None and position >= playing_from:
                rebuilt.append((playing_from, position))
            playing_from = position if position is not None else (playing_from or 0.0)
        elif kind in CLOSES or kind == "seek":
            if playing_from is not None and position is not None and position >= playing_from:
                rebuilt.append((playing_from, position))
            playing_from = event.seek_to if kind == "seek" else None
    intervals = explicit if explicit else rebuilt
    seconds = seconds_reported if has_reported else sum(end - start for start, end in intervals)
    return intervals, seconds


def derive_play(events: Sequence[EventLike], duration: float | None, reports_quartiles: bool = False) -> PlayFacts:
    """Facts of one play from its events, ordered as they happened.

    A feed that reports quartile events (Kava: once per player load, as Kaltura counts them) is
    taken at its word; for other feeds the marks the playhead reached are counted.
    """
    intervals, seconds = watched_intervals(events)
    segments = merge(intervals)
    bits = percentile_bits(segments, duration)
    reported = {QUARTILES[e.event_type] for e in events if e.event_type in QUARTILES}
    if reported or reports_quartiles:
        quartiles = reported
    else:
        # Feeds without quartile events: the marks the playhead reached, as a player would fire them.
        furthest = max([end for _start, end in segments] + [e.position or 0.0 for e in events], default=0.0)
        ended = any(e.event_type == "ended" for e in events)
        quartiles = set()
        if duration:
            quartiles = {q for q in (25, 50, 75, 100) if furthest >= duration * q / 100 - (END_TOLERANCE_SECONDS if q == 100 else 0)}
        if ended:
            quartiles |= {25, 50, 75, 100}
    return PlayFacts(
        seconds_viewed=round(seconds, 3),
        segments=segments,
        percentiles=bits,
        percentile_count=bits.count("1") if bits else 0,
        quartile_events=len(quartiles),
        highest_quartile=max(quartiles, default=0),
        reached_end=100 in quartiles,
    )
