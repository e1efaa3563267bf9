"""IncomingEvent: the one shape every feed (native JSON, Kava, Caliper, xAPI, files) is adapted to.

Also the native JSON batch format, version 1 (documented in /api/v1/openapi.json).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from lti_tool.models.media import MEDIA_TYPES
from lti_tool.models.types import EARLIEST_TIME, LAST_DAY, LATEST_TIME

EVENT_TYPES = (
    "impression", "play_request", "play", "resume", "pause", "seek",
    "quartile_25", "quartile_50", "quartile_75", "quartile_100",
    "view", "ended", "share", "download", "error",
)
PLAYBACK_TYPES = ("vod", "live", "dvr")
USER_KINDS = ("sub", "canvas", "login", "email", "sis", "player")
MAX_BATCH_EVENTS = 5000
# A feed's JSON nests a few levels (an xAPI statement's context extensions, ~8); deeper is refused.
MAX_JSON_DEPTH = 64
# Times every feed accepts, as the API description says them.
TIME_WINDOW = f"{EARLIEST_TIME:%Y-%m-%d} to {LAST_DAY} (UTC)"
# Not text: control characters other than tab, line feed and carriage return, and lone surrogates
# (a JSON "\ud800" without its pair; no UTF-8 encodes it). NUL cannot be stored at all.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_NOT_STORABLE = re.compile("[\x00\ud800-\udfff]")


class InvalidEvent(ValueError):
    """One event that cannot be accepted; the message says why."""


class RefusedRequest(Exception):
    """An HTTP batch refused whole (nothing stored): the status to answer, the message and, when the
    refusal is about items, their [{"index", "reason"}]."""

    def __init__(self, status: int, message: str, errors: list[dict] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


@dataclass(slots=True)
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
    """ISO 8601 (with zone) or Unix seconds -> aware UTC datetime, from 1970 to 2199 (EARLIEST_TIME to
    LATEST_TIME): every feed's times are read here, so one window holds for all of them."""
    if isinstance(value, bool) or value is None:
        raise InvalidEvent("time is missing")
    if isinstance(value, (int, float)):
        if (isinstance(value, float) and not math.isfinite(value)) or not (
                EARLIEST_TIME.timestamp() <= value < LATEST_TIME.timestamp()):
            raise _outside_window(value)
        parsed = datetime.fromtimestamp(value, timezone.utc)
    else:
        if not isinstance(value, str) or len(value) > 64:
            raise InvalidEvent("time must be an ISO 8601 string or Unix seconds")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidEvent(f"time {value!r} is not ISO 8601") from exc
        if parsed.tzinfo is None:
            raise InvalidEvent(f"time {value!r} has no time zone")
        try:
            parsed = parsed.astimezone(timezone.utc)
        except OverflowError:  # e.g. 9999-12-31T23:59:59-05:00 is in the year 10000
            raise _outside_window(value) from None
    if not EARLIEST_TIME <= parsed < LATEST_TIME:
        raise _outside_window(value)
    return parsed


def _outside_window(value) -> InvalidEvent:
    shown = "a very large number" if isinstance(value, int) and value.bit_length() > 200 else repr(str(value)[:64])
    return InvalidEvent(f"time {shown} is not between {EARLIEST_TIME.date()} and {LAST_DAY} (UTC)")


def number(value, name: str, *, minimum: float = 0.0, maximum: float = 10 * 24 * 3600) -> float | None:
    if value is None:
        return None
    # An int is exact however long (json reads 10**400 as one); a float may be NaN or infinite.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not math.isfinite(value)):
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
    found = _NOT_TEXT.search(value)
    if found:
        raise InvalidEvent(f"{name} contains {_character(found.group())}")
    return value


def _character(char: str) -> str:
    """How an error names a character that is not text."""
    if char == "\x00":
        return "a NUL character"
    if "\ud800" <= char <= "\udfff":
        return f"a lone surrogate (U+{ord(char):04X})"
    return f"a control character (U+{ord(char):04X})"


def load_json(data: bytes | str):
    """A JSON document as a feed sends it (one HTTP body, one line of a file); InvalidEvent says why
    it cannot be read. Besides what JSON forbids, refuses what Python's reader lets through and no
    table can keep: NaN and Infinity, nesting deeper than MAX_JSON_DEPTH, and NUL characters and
    lone surrogates in strings and keys. A document 100 000 levels deep stops the reader early: it
    is refused before it is parsed further."""
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidEvent(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of over 4300 digits
        raise InvalidEvent(f"not valid JSON: {exc}") from None
    json_value(value, "$")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def json_value(value, name: str) -> None:
    """InvalidEvent unless `value` is JSON we can keep (see load_json); `name` is its path in errors."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            found = _NOT_STORABLE.search(item)
            if found:
                raise InvalidEvent(f"{_locate(value, item, name, 0) or name} contains {_character(found.group())}")
        elif isinstance(item, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise InvalidEvent(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                for key, member in item.items():
                    if not isinstance(key, str):
                        raise InvalidEvent(f"{name} holds a key that is not a string")
                    stack.append((key, depth + 1))
                    stack.append((member, depth + 1))
            else:
                stack.extend((member, depth + 1) for member in item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidEvent(f"{name} holds {item}, which is not a JSON number")
        elif item is not None and not isinstance(item, (bool, int)):
            raise InvalidEvent(f"{name} holds a {type(item).__name__}, which is not JSON")


def _locate(value, bad: str, path: str, depth: int) -> str | None:
    """The path of the string `bad` (a value or a key) inside `value`, e.g. "$.events[2].entry_id"; None
    when it is not there. Keys in the path show what is not text as U+FFFD."""
    if value is bad:
        return path
    if depth >= MAX_JSON_DEPTH:
        return None
    if isinstance(value, dict):
        for key, member in value.items():
            inner = f"{path}.{_NOT_TEXT.sub(chr(0xFFFD), key)}"
            if key is bad:
                return f"the key {inner}"
            found = _locate(member, bad, inner, depth + 1)
            if found:
                return found
    elif isinstance(value, list):
        for index, member in enumerate(value):
            found = _locate(member, bad, f"{path}[{index}]", depth + 1)
            if found:
                return found
    return None


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
        if start is None or end is None:
            raise InvalidEvent("a segment needs a start and an end")
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


def all_or_nothing(parsed: tuple[list, int, list[dict]]) -> tuple[list, int]:
    """(events, ignored) of a feed adapter's (events, ignored, errors) when it has no errors; else
    InvalidEvent naming the first ten (a file line holding one bad event is rejected whole)."""
    events, ignored, errors = parsed
    if errors:
        raise InvalidEvent("; ".join(
            e["reason"] if e["index"] is None else f"item {e['index']}: {e['reason']}" for e in errors[:10]))
    return events, ignored


def refuse_errors(parsed: tuple[list, int, list[dict]], message: str) -> tuple[list, int]:
    """(events, ignored) of a feed adapter's (events, ignored, errors) when it has no errors; else
    RefusedRequest (400) with the message and the errors."""
    events, ignored, errors = parsed
    if errors:
        raise RefusedRequest(400, message, errors)
    return events, ignored


def is_number(value: str) -> bool:
    """Whether text reads as a number (a CSV cell, a Unix time in a Kava line)."""
    try:
        float(value)
    except ValueError:
        return False
    return True


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
    """One event of a native JSON batch (format version 1); InvalidEvent says what is wrong.

    `checked_native_event` holds the rules and says why an event breaks one. Most events are plain
    (text fields within their limits, numbers within theirs, no segments or extra): `_plain_native_event`
    reads those in one pass, and hands anything else to the rules.
    """
    return _plain_native_event(raw) or checked_native_event(raw)


def checked_native_event(raw) -> IncomingEvent:
    """One event of a native JSON batch, each field checked in turn by its rule."""
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
    if media_type is not None and media_type not in MEDIA_TYPES:
        raise InvalidEvent("media_type must be video, audio, image, quiz or youtube")
    seq = raw.get("seq", 0)
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**31:
        raise InvalidEvent("seq must be a non-negative integer")
    extra = raw.get("extra") or {}
    if not isinstance(extra, dict) or len(str(extra)) > 2000:
        raise InvalidEvent("extra must be a small JSON object")
    json_value(extra, "extra")  # kept as JSON: no NaN, NUL or lone surrogate in it
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


# What `_plain_native_event` reads without the rules: text fields and their limits, numbers and their
# ranges (as `checked_native_event` has them).
_PLAIN_TEXTS = (("id", 200), ("entry_id", 255), ("user", 300), ("play_id", 200), ("load_id", 200),
                ("playback_context", 255), ("page_url", 4000), ("user_agent", 1000), ("ip", 64),
                ("entry_name", 500))
_PLAIN_NUMBERS = (("position", 0.0, 10 * 24 * 3600), ("seconds_viewed", 0.0, 24 * 3600),
                  ("seek_to", 0.0, 10 * 24 * 3600), ("duration", 0.001, 10 * 24 * 3600))
_NATIVE_FIELD_SET = frozenset(NATIVE_FIELDS)
_EVENT_TYPE_SET = frozenset(EVENT_TYPES)
_PLAYBACK_TYPE_SET = frozenset(PLAYBACK_TYPES)
_MEDIA_TYPE_SET = frozenset(MEDIA_TYPES)
_USER_KIND_SET = frozenset(USER_KINDS)
_LOCATION_FIELDS = frozenset(("country", "region", "city"))


def _plain_native_event(raw) -> IncomingEvent | None:
    """The event of a plain native event, the same as `checked_native_event` makes it; None when the
    event is not plain (then the rules decide: it may still be valid, e.g. with segments).

    Plain: a dict of known fields; type, playback_type and media_type among theirs; seq a small int;
    no segments, an empty or absent extra; every text field absent or a non-empty str within its
    limit, with no character `_NOT_TEXT` refuses (one search over them all: joined by a tab, which
    it allows, so a match is inside one of them); a valid user reference; numbers int or float
    within their ranges (NaN is in none); a location of 2 letters, region and city.
    """
    if type(raw) is not dict or not _NATIVE_FIELD_SET.issuperset(raw):
        return None
    get = raw.get
    event_type = get("type")
    playback = get("playback_type") or "vod"
    media_type = get("media_type")
    seq = get("seq", 0)
    if (type(event_type) is not str or event_type not in _EVENT_TYPE_SET
            or type(playback) is not str or playback not in _PLAYBACK_TYPE_SET
            or (media_type is not None and (type(media_type) is not str or media_type not in _MEDIA_TYPE_SET))
            or type(seq) is not int or not 0 <= seq < 2**31 or get("extra") or get("segments") is not None):
        return None
    texts = []
    for name, limit in _PLAIN_TEXTS:
        value = get(name)
        if value is not None:
            if type(value) is not str or not 0 < len(value) <= limit:
                return None
            texts.append(value)
    key, entry, user = get("id"), get("entry_id"), get("user")
    if key is None or entry is None:
        return None
    if user is not None:
        kind, sep, rest = user.partition(":")
        if not sep or kind not in _USER_KIND_SET or not rest:
            return None
    numbers = []
    for name, minimum, maximum in _PLAIN_NUMBERS:
        value = get(name)
        if value is not None:
            if (type(value) is not float and type(value) is not int) or not minimum <= value <= maximum:
                return None
            value = float(value)
        numbers.append(value)
    where = get("location")
    if where is not None:
        if type(where) is not dict or not _LOCATION_FIELDS.issuperset(where):
            return None
        country, region, city = where.get("country"), where.get("region"), where.get("city")
        if country is not None:
            if type(country) is not str or len(country) != 2 or not country.isalpha():
                return None
            texts.append(country)
            country = country.upper()
        for value in (region, city):
            if value is not None:
                if type(value) is not str or not 0 < len(value) <= 128:
                    return None
                texts.append(value)
        where = (country, region, city)
    if _NOT_TEXT.search("\t".join(texts)):
        return None
    try:
        occurred_at = parse_time(get("time"))
    except InvalidEvent:
        return None
    position, seconds_viewed, seek_to, duration = numbers
    return IncomingEvent(
        key="native:" + key, type=event_type, occurred_at=occurred_at, entry=entry, user=user,
        play=get("play_id"), load=get("load_id"), seq=seq, position=position, seconds_viewed=seconds_viewed,
        segments=[], seek_to=seek_to, playback_type=playback, playback_context=get("playback_context"),
        page_url=get("page_url"), user_agent=get("user_agent"), ip=get("ip"), duration=duration,
        entry_name=get("entry_name"), media_type=media_type, extra={}, location=where,
    )
