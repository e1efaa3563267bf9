"""Viewings as they happen, what each feed sends about them, and what the numbers must be.

A `Viewing` is one person (or an anonymous viewer) loading one media in a player and playing it
zero, one or two times (a replay after the end), with watching, short and long pauses and seeks.
`simulate` turns it into the moments a player reports (load, play, heartbeat every 10 s of
playback, quartile marks, pause, resume, seek, end, replay) and the truth: the intervals watched
in each play. The senders turn the moments into what each feed really sends: Kava beacons,
native events, xAPI Video statements, Caliper MediaEvents.

`oracle` computes the expected metrics from the truth with the definitions of DESIGN.md §5, on
its own: it reads nothing of the product.
"""
from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Entries and their durations in seconds (multiples of 10, so heartbeats fall on whole steps).
ENTRIES = {"1_prop_short": 60, "1_prop_long": 120, "1_prop_mid": 90}
FEEDS = ("kava", "native", "xapi", "caliper")
HEARTBEAT = 10
LONG_PAUSE = 40      # seconds stopped: longer than Kava's 30 s, so the player resets its session
SHORT_PAUSE = 5


@dataclass
class Viewing:
    """What a viewer did. `plays` holds one list of actions per play:
    ("watch", n) plays n heartbeats, ("pause", long), ("seek", step) jumps to step * 10 s,
    ("end",) watches to the end. A play after the first is a replay after the end."""

    number: int
    feed: str
    viewer: str | None           # "v1", "v2", ...; None = anonymous (Kava and native only)
    entry: str
    start: datetime
    plays: list[list[tuple]]

    @property
    def duration(self) -> int:
        return ENTRIES[self.entry]


@dataclass
class Moment:
    """One thing the player reports, at `at`, with the playhead at `position` (seconds)."""

    kind: str                    # load, play, replay, view, quartile, pause, resume, seek, end
    at: datetime
    position: float
    play: int = 0                # 1-based play number (0 before the first play)
    to: float | None = None      # seek target
    mark: int | None = None      # quartile 25, 50, 75, 100
    reset: bool = False          # the player reset its Kava session just before this moment
    subsession_played: float = 0.0   # Kava playTimeSum at a view


@dataclass
class Simulated:
    moments: list[Moment]
    intervals: list[list[tuple[float, float]]] = field(default_factory=list)  # per play, watched [a, b]


def simulate(viewing: Viewing) -> Simulated:
    duration = viewing.duration
    clock = viewing.start
    out = Simulated([Moment("load", clock, 0.0)])
    fired: set[int] = set()      # Kava fires each quartile once per player load

    def tick(seconds: float) -> datetime:
        nonlocal clock
        clock = clock + timedelta(seconds=seconds)
        return clock

    played = 0.0                 # Kava's playTimeSum in the current sub-session
    for number, actions in enumerate(viewing.plays, start=1):
        out.intervals.append([])
        position = 0.0
        if number == 1:
            out.moments.append(Moment("play", tick(2), 0.0, number))
        else:
            long = actions and actions[0] == ("long-gap",)
            if long:
                played = 0.0
            out.moments.append(Moment("replay", tick(LONG_PAUSE if long else SHORT_PAUSE), 0.0, number, reset=long))
        for action in actions:
            if action[0] == "long-gap":
                continue
            if action[0] in ("watch", "end"):
                steps = action[1] if action[0] == "watch" else math.inf
                while steps > 0 and position + HEARTBEAT <= duration:
                    steps -= 1
                    position += HEARTBEAT
                    played += HEARTBEAT
                    out.intervals[-1].append((position - HEARTBEAT, position))
                    out.moments.append(Moment("view", tick(HEARTBEAT), position, number, subsession_played=played))
                    for mark in (25, 50, 75, 100):
                        reached = position >= duration * mark / 100 if mark < 100 else position == duration
                        if reached and mark not in fired:
                            fired.add(mark)
                            out.moments.append(Moment("quartile", clock, position, number, mark=mark))
                if position == duration:
                    out.moments.append(Moment("end", tick(0.5), position, number))
                    break
            elif action[0] == "pause":
                long = action[1]
                out.moments.append(Moment("pause", tick(0.5), position, number))
                tick(LONG_PAUSE if long else SHORT_PAUSE)
                if long:
                    played = 0.0
                out.moments.append(Moment("resume", tick(0.5), position, number, reset=long))
            elif action[0] == "seek":
                target = float(action[1] * HEARTBEAT)
                if target == position or target >= duration:
                    continue
                out.moments.append(Moment("seek", tick(0.5), position, number, to=target))
                position = target
                for mark in (25, 50, 75):  # the marks a seek skips past fire as the playhead lands
                    if position >= duration * mark / 100 and mark not in fired:
                        fired.add(mark)
                        out.moments.append(Moment("quartile", clock, position, number, mark=mark))
        else:
            # The viewer leaves without reaching the end: the player reports a last pause.
            out.moments.append(Moment("pause", tick(0.5), position, number))
    return out


# -- the oracle -----------------------------------------------------------------------------------

def entry_id(viewing: Viewing) -> str:
    """The media's id as the feed names it: Kaltura entry ids for Kava and native events, the
    activity's IRI for xAPI and Caliper (which also send its duration)."""
    if viewing.feed in ("xapi", "caliper"):
        return f"https://example.edu/media/{viewing.entry}"
    return viewing.entry


def all_entry_ids() -> list[str]:
    return [*ENTRIES, *(f"https://example.edu/media/{entry}" for entry in ENTRIES)]


def identity(viewing: Viewing) -> str | None:
    """Who the feed says the viewer is (each feed names people its own way)."""
    if viewing.viewer is None:
        return None
    return {"kava": f"sub:{viewing.viewer}", "native": f"sub:{viewing.viewer}",
            "xapi": f"email:{viewing.viewer}@example.edu",
            "caliper": f"player:https://example.edu/users/{viewing.viewer}"}[viewing.feed]


def percentiles_watched(intervals: list[tuple[float, float]], duration: float) -> set[int]:
    """DESIGN §5: percentile p (0-100) spans [p %, (p + 1) %) of the media; an interval [a, b]
    watches every percentile from the one a falls in to the one b falls in, and the last one
    (100) when it reaches the end (within a second)."""
    watched: set[int] = set()
    for start, end in intervals:
        first = min(100, int(start * 100 // duration))
        last = 100 if end >= duration - 1 else min(100, int(end * 100 // duration))
        watched.update(range(first, last + 1))
    return watched


def oracle(viewings: list[Viewing]) -> dict[str, dict]:
    """Per entry: impressions, plays, unique viewers, anonymous plays, minutes viewed and avg.
    completion rate (percent), as DESIGN §5 defines them."""
    expected: dict[str, dict] = {}
    for entry in all_entry_ids():
        mine = [v for v in viewings if entry_id(v) == entry]
        plays = [(v, play) for v in mine for play in simulate(v).intervals]
        completion = [min(len(percentiles_watched(play, v.duration)), 100) for v, play in plays]
        expected[entry] = {
            "impressions": len(mine),
            "plays": len(plays),
            "unique_viewers": len({identity(v) for v, _ in plays if identity(v)}),
            "anonymous_plays": sum(1 for v, _ in plays if identity(v) is None),
            "minutes_viewed": sum(b - a for _, play in plays for a, b in play) / 60,
            "avg_completion_rate": sum(completion) / len(completion) if completion else None,
        }
    return expected


# -- what each feed sends ---------------------------------------------------------------------------

KAVA_TYPES = {"load": 1, "play": 3, "replay": 34, "view": 99, "pause": 33, "resume": 4, "seek": 35}
KAVA_QUARTILES = {25: 11, 50: 12, 75: 13, 100: 14}


def kava_beacons(viewing: Viewing, *, event_time: bool = True) -> list[dict]:
    """The beacons of one viewing, as playkit-js-kava numbers them (a play request precedes the
    first play; eventIndex and playTimeSum restart after a long stop). With `event_time`, each
    carries the player's clock (`eventTime`), as a feed replaying stored beacons does."""
    session = f"{uuid.UUID(int=viewing.number + 1)}:{uuid.uuid5(uuid.NAMESPACE_OID, str(viewing.number))}"
    beacons, index = [], 0
    for moment in simulate(viewing).moments:
        if moment.reset:
            index = 0
        if moment.kind == "quartile":
            kinds = [KAVA_QUARTILES[moment.mark]]
        elif moment.kind == "end":
            kinds = [33]          # the video element pauses at its end
        elif moment.kind == "play":
            kinds = [2, 3]        # play request, then the first frame
        else:
            kinds = [KAVA_TYPES[moment.kind]]
        for kind in kinds:
            index += 1
            beacon = {"eventType": str(kind), "entryId": viewing.entry, "sessionId": session,
                      "eventIndex": str(index), "position": f"{moment.position:.3f}", "playbackType": "vod",
                      "referrer": "https://canvas.test.edu/courses/7/pages/week-1"}
            if kind == 99:
                beacon["playTimeSum"] = f"{moment.subsession_played:.3f}"
            if kind == 35:
                beacon["position"] = beacon["targetPosition"] = f"{moment.to:.3f}"
            if event_time:
                beacon["eventTime"] = f"{moment.at.timestamp():.3f}"
            beacons.append(beacon)
    return beacons


def native_events(viewing: Viewing) -> list[dict]:
    kinds = {"load": "impression", "play": "play", "replay": "play", "pause": "pause", "resume": "resume",
             "seek": "seek", "end": "ended"}
    events = []
    for n, moment in enumerate(simulate(viewing).moments):
        if moment.kind not in kinds:
            continue
        event = {"id": f"viewing-{viewing.number}-{n}", "type": kinds[moment.kind], "entry_id": viewing.entry,
                 "time": moment.at.isoformat(), "position": moment.position, "load_id": f"load-{viewing.number}"}
        if moment.kind != "load":
            event["play_id"] = f"viewing-{viewing.number}-play-{moment.play}"
        if moment.kind == "seek":
            event["seek_to"] = moment.to
        if viewing.viewer:
            event["user"] = identity(viewing)
        events.append(event)
    return events


XVIDEO = "https://w3id.org/xapi/video"


def xapi_statements(viewing: Viewing) -> list[dict]:
    """ADL xAPI Video Profile statements, played-segments cumulative over the session."""
    verbs = {"load": "http://adlnet.gov/expapi/verbs/initialized", "play": f"{XVIDEO}/verbs/played",
             "replay": f"{XVIDEO}/verbs/played", "resume": f"{XVIDEO}/verbs/played",
             "pause": f"{XVIDEO}/verbs/paused", "seek": f"{XVIDEO}/verbs/seeked",
             "end": "http://adlnet.gov/expapi/verbs/completed"}
    session = str(uuid.uuid5(uuid.NAMESPACE_URL, f"xapi-session-{viewing.number}"))
    statements, segments, opened = [], [], None
    for n, moment in enumerate(simulate(viewing).moments):
        if moment.kind not in verbs:
            continue
        result: dict = {}
        if moment.kind in ("play", "replay", "resume"):
            opened = moment.position
            result[f"{XVIDEO}/extensions/time"] = moment.position
        elif moment.kind in ("pause", "seek", "end"):
            if opened is not None:
                segments.append((opened, moment.position))
            opened = moment.to if moment.kind == "seek" else None
            if moment.kind == "seek":
                result[f"{XVIDEO}/extensions/time-from"] = moment.position
                result[f"{XVIDEO}/extensions/time-to"] = moment.to
            else:
                result[f"{XVIDEO}/extensions/time"] = moment.position
            result[f"{XVIDEO}/extensions/played-segments"] = "[,]".join(f"{a:.3f}[.]{b:.3f}" for a, b in segments)
        statements.append({
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"xapi-{viewing.number}-{n}")),
            "actor": {"objectType": "Agent", "mbox": f"mailto:{viewing.viewer}@example.edu"},
            "verb": {"id": verbs[moment.kind], "display": {"en-US": moment.kind}},
            "object": {"objectType": "Activity", "id": entry_id(viewing),
                       "definition": {"type": f"{XVIDEO}/activity-type/video", "name": {"en-US": viewing.entry}}},
            "result": {"extensions": result} if result else {},
            "context": {"extensions": {f"{XVIDEO}/extensions/session-id": session,
                                       f"{XVIDEO}/extensions/length": float(viewing.duration)}},
            "timestamp": moment.at.isoformat(),
        })
    return statements


CALIPER = "http://purl.imsglobal.org/ctx/caliper/v1p2"


def caliper_events(viewing: Viewing) -> list[dict]:
    """Caliper 1.2 MediaEvents (a seek while playing is a pause, a jump and a resume: a jump
    carries only its target) and a NavigationEvent for the load."""
    actions = {"play": "Started", "replay": "Restarted", "pause": "Paused", "resume": "Resumed", "end": "Ended"}
    media = {"id": entry_id(viewing), "type": "VideoObject",
             "name": viewing.entry, "duration": f"PT{viewing.duration}S"}
    session = {"id": f"https://example.edu/sessions/{viewing.number}", "type": "Session"}
    actor = {"id": f"https://example.edu/users/{viewing.viewer}", "type": "Person"}
    events, playing, n = [], False, 0

    def event(kind: str, action: str, at: datetime, position: float | None) -> None:
        nonlocal n
        n += 1
        item = {"@context": CALIPER, "id": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'cal-{viewing.number}-{n}')}",
                "type": kind, "actor": actor, "action": action, "object": media,
                "eventTime": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "edApp": "https://example.edu/player", "session": session}
        if position is not None:
            item["target"] = {"id": f"{media['id']}?t={position:g}", "type": "MediaLocation",
                              "currentTime": f"PT{position:g}S"}
        if kind == "MediaEvent":
            item["profile"] = "MediaProfile"
        events.append(item)

    for moment in simulate(viewing).moments:
        if moment.kind == "load":
            event("NavigationEvent", "NavigatedTo", moment.at, None)
        elif moment.kind == "seek":
            if playing:
                event("MediaEvent", "Paused", moment.at, moment.position)
            event("MediaEvent", "JumpedTo", moment.at + timedelta(milliseconds=1), moment.to)
            if playing:
                event("MediaEvent", "Resumed", moment.at + timedelta(milliseconds=2), moment.to)
        elif moment.kind in actions:
            event("MediaEvent", actions[moment.kind], moment.at, moment.position)
            playing = moment.kind in ("play", "replay", "resume")
    return events
