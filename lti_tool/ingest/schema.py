"""IncomingEvent: the one shape every feed (native JSON, Kava, Caliper, xAPI, files) is adapted to.

Also the native JSON batch format, version 1 (documented in /api/v1/openapi.json).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

EVENT_TYPES = (
    "impression", "play_request", "play", "resume", "pause", "seek",
    "quartile_25", "quartile_50", "quartile_75", "quartile_100",
    "view", "ended", "share", "download", "error",
)
QUARTILE_TYPES = ("quartile_25", "quartile_50", "quartile_75", "quartile_100")
PLAYBACK_TYPES = ("vod", "live", "dvr")
USER_KINDS = ("sub", "canvas", "login", "email", "sis", "player")
MAX_BATCH_EVENTS = 5000
MAX_TEXT = 1000


class InvalidEvent(ValueError):
    """One event that cannot be accepted; the message says why."""


@dataclass
class IncomingEvent:
    """A player event as every feed hands it to the pipeline. Times are aware UTC; positions seconds."""

    key: str                            # idempotency key, unique per registration (feed-prefixed)
    type: str                           # one of EVENT_TYPES
    occurred_at: datetime
    entry: str                          # external entry id, e.g. a Kaltura entry id "1_abc123"
    user: str | None = None             # "kind:value" with kind in USER_KINDS; None = anonymous
    play: str | None = None             # events of one play share this key
    load: str | None = None             # the player load (impression) the event belongs to
    seq: int = 0                        # order within a play when times tie
    position: float | None = None       # seconds into the media
    seconds_viewed: float | None = None  # playback seconds since the previous event of the play
    segments: list[tuple[float, float]] = field(default_factory=list)  # explicit watched intervals
    seek_to: float | None = None
    playback_type: str = "vod"
    playback_context: str | None = None  # external id of the category page the player was in
    page_url: str | None = None
    user_agent: str | None = None
    ip: str | None = None               # only to locate the viewer; never stored
    location: tuple[str | None, str | None, str | None] | None = None  # (country, region, city) a feed already knows
    duration: float | None = None       # media duration in seconds, when the feed knows it
    entry_name: str | None = None
    media_type: str | None = None
    extra: dict = field(default_factory=dict)
    # A feed whose events say which play they belong to only together names their stream; the
    # pipeline then assigns play, seconds and segments from the whole stream (ingest/streams.py).
    stream: str | None = None
    reported: dict | None = None        # what the stream's assigner reads, as the sender reported it


def parse_time(value) -> datetime:
    """ISO 8601 (with zone) or Unix seconds -> aware UTC datetime."""
    if isinstance(value, bool) or value is None:
        raise InvalidEvent("time is missing")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or not 0 < value < 32503680000:
            raise InvalidEvent("time is out of range")
        return datetime.fromtimestamp(value, timezone.utc)
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidEvent("time must be an ISO 8601 string or Unix seconds")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidEvent(f"time {value!r} is not ISO 8601") from exc
    if parsed.tzinfo is None:
        raise InvalidEvent(f"time {value!r} has no time zone")
    return parsed.astimezone(timezone.utc)


def number(value, name: str, *, minimum: float = 0.0, maximum: float = 10 * 24 * 3600) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidEvent(f"{name} must be a number")
    if not minimum <= value <= maximum:
        raise InvalidEvent(f"{name} must be between {minimum:g} and {maximum:g}")
    return float(value)


def text(value, name: str, *, required: bool = False, limit: int = 255) -> str | None:
    if value is None or value == "":
        if required:
            raise InvalidEvent(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"{name} must be a string")
    if len(value) > limit:
        raise InvalidEvent(f"{name} is longer than {limit} characters")
    return value


def user_ref(value) -> str | None:
    """Validate a person reference "kind:value"."""
    value = text(value, "user", limit=300)
    if value is None:
        return None
    kind, sep, rest = value.partition(":")
    if not sep or kind not in USER_KINDS or not rest:
        raise InvalidEvent(f"user must look like kind:value with kind one of {', '.join(USER_KINDS)}")
    return value


def segments(value) -> list[tuple[float, float]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 1000:
        raise InvalidEvent("segments must be a list of [start, end] pairs")
    out = []
    for pair in value:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise InvalidEvent("segments must be a list of [start, end] pairs")
        start, end = number(pair[0], "segment start"), number(pair[1], "segment end")
        if end < start:
            raise InvalidEvent("a segment ends before it starts")
        out.append((start, end))
    return out


def batch_items(body) -> tuple[list, list[dict]]:
    """The events list of a native batch {"version": 1, "events": [...]}, or errors saying what is wrong."""
    if not isinstance(body, dict) or body.get("version") != 1 or set(body) - {"version", "events"}:
        return [], [{"index": None, "reason": 'the body must be {"version": 1, "events": [...]}'}]
    raw_events = body.get("events")
    if not isinstance(raw_events, list) or not raw_events:
        return [], [{"index": None, "reason": "events must be a non-empty list"}]
    if len(raw_events) > MAX_BATCH_EVENTS:
        return [], [{"index": None, "reason": f"at most {MAX_BATCH_EVENTS} events per batch"}]
    return raw_events, []


def read_items(items, reader) -> tuple[list, int, list[dict]]:
    """Run a feed's reader over each item: (facts with their index, ignored count, errors by index).

    The reader returns a tuple of facts, None for an item the feed counts as ignored, or raises
    InvalidEvent with the reason.
    """
    facts, ignored, errors = [], 0, []
    for index, item in enumerate(items):
        try:
            fact = reader(item)
        except InvalidEvent as exc:
            errors.append({"index": index, "reason": str(exc)})
            continue
        if fact is None:
            ignored += 1
        else:
            facts.append((index, *fact))
    return facts, ignored, errors


NATIVE_FIELDS = {
    "id", "type", "time", "entry_id", "user", "play_id", "load_id", "seq", "position", "seconds_viewed",
    "segments", "seek_to", "playback_type", "playback_context", "page_url", "user_agent", "ip", "duration",
    "entry_name", "media_type", "extra", "location",
}


def location(value) -> tuple[str | None, str | None, str | None] | None:
    """{"country": "US", "region": "Minnesota", "city": "Minneapolis"} as a feed knows it."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"country", "region", "city"}:
        raise InvalidEvent("location must be an object with country, region and city")
    country = text(value.get("country"), "location.country", limit=2)
    if country is not None and not (len(country) == 2 and country.isalpha()):
        raise InvalidEvent("location.country must be an ISO 3166 two-letter code")
    return (country.upper() if country else None, text(value.get("region"), "location.region", limit=128),
            text(value.get("city"), "location.city", limit=128))


def native_event(raw) -> IncomingEvent:
    """One event of a native JSON batch (format version 1)."""
    if not isinstance(raw, dict):
        raise InvalidEvent("an event must be a JSON object")
    unknown = set(raw) - NATIVE_FIELDS
    if unknown:
        raise InvalidEvent(f"unknown field(s): {', '.join(sorted(unknown))[:200]}")
    event_type = raw.get("type")
    if event_type not in EVENT_TYPES:
        raise InvalidEvent(f"type must be one of {', '.join(EVENT_TYPES)}")
    playback = raw.get("playback_type") or "vod"
    if playback not in PLAYBACK_TYPES:
        raise InvalidEvent("playback_type must be vod, live or dvr")
    media_type = raw.get("media_type")
    if media_type is not None and media_type not in ("video", "audio", "image", "quiz", "youtube"):
        raise InvalidEvent("media_type must be video, audio, image, quiz or youtube")
    seq = raw.get("seq", 0)
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**31:
        raise InvalidEvent("seq must be a non-negative integer")
    extra = raw.get("extra") or {}
    if not isinstance(extra, dict) or len(str(extra)) > 2000:
        raise InvalidEvent("extra must be a small JSON object")
    return IncomingEvent(
        key="native:" + text(raw.get("id"), "id", required=True, limit=200),
        type=event_type,
        occurred_at=parse_time(raw.get("time")),
        entry=text(raw.get("entry_id"), "entry_id", required=True),
        user=user_ref(raw.get("user")),
        play=text(raw.get("play_id"), "play_id", limit=200),
        load=text(raw.get("load_id"), "load_id", limit=200),
        seq=seq,
        position=number(raw.get("position"), "position"),
        seconds_viewed=number(raw.get("seconds_viewed"), "seconds_viewed", maximum=24 * 3600),
        segments=segments(raw.get("segments")),
        seek_to=number(raw.get("seek_to"), "seek_to"),
        playback_type=playback,
        playback_context=text(raw.get("playback_context"), "playback_context"),
        page_url=text(raw.get("page_url"), "page_url", limit=4000),
        user_agent=text(raw.get("user_agent"), "user_agent", limit=1000),
        ip=text(raw.get("ip"), "ip", limit=64),
        duration=number(raw.get("duration"), "duration", minimum=0.001),
        entry_name=text(raw.get("entry_name"), "entry_name", limit=500),
        media_type=media_type,
        extra=extra,
        location=location(raw.get("location")),
    )
