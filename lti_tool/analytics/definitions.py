"""The metric definitions (DESIGN §5), once: each metric's label, its wording for tooltips and the
report API, its unit, and the arithmetic every surface uses.

A surface never decides how a metric reads by its name: pages and PDFs format a value by the
metric's unit (`render.formatting.metric_format`), CSV headers name the unit from it
(`exports.csv_export.metric`), and the report API describes it with `Metric.as_json`."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    """What a metric's value measures, and so how every surface shows it."""

    COUNT = "count"          # a whole number of things: plays, people, entries
    MINUTES = "minutes"      # time in minutes
    PERCENT = "percent"      # a share as 0-100
    FRACTION = "fraction"    # a share as 0-1
    RATIO = "ratio"          # a quotient that may exceed 1 (plays per impression)
    SCORE = "score"          # points on a scale the definition states (engagement: 0-10)
    LEVEL = "level"          # a named level (high, good, fair, low, none)


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    definition: str
    unit: Unit

    def as_json(self) -> dict[str, str]:
        """The metric as the report API describes it: label, definition and unit."""
        return {"label": self.label, "definition": self.definition, "unit": self.unit.value}


METRICS = {m.name: m for m in (
    Metric("impressions", "Player impressions", "Times a player loaded with the media (a page showing it was opened).",
           Unit.COUNT),
    Metric("plays", "Plays", "Times playback started (first frame). A replay is a new play.", Unit.COUNT),
    Metric("played_entries", "Played entries", "Distinct media with at least one play.", Unit.COUNT),
    Metric("unique_viewers", "Unique viewers",
           "Exact count of distinct signed-in people with at least one play. Anonymous plays are one "
           "'Unknown' row and are reported as a share.", Unit.COUNT),
    Metric("minutes_viewed", "Minutes viewed", "Total playback time in minutes (rewatching counts again).",
           Unit.MINUTES),
    Metric("avg_minutes_per_play", "Avg. minutes per play",
           "Minutes viewed divided by plays: how long a play lasts on average.", Unit.MINUTES),
    Metric("avg_completion_rate", "Avg. completion rate",
           "For each play, the distinct percentiles (0-100) of the media watched, capped at 100; averaged over plays.",
           Unit.PERCENT),
    Metric("total_completion_rate", "Total completion rate",
           "Distinct percentiles of the media ever watched (by a person, or for an entry), capped at 100.",
           Unit.PERCENT),
    Metric("avg_drop_off", "Avg. drop-off",
           "Quartile marks reached (25, 50, 75, 100 %) divided by 4, averaged over plays.", Unit.FRACTION),
    Metric("play_through_ratio", "Play-through ratio", "Plays that reached the end, divided by plays.",
           Unit.FRACTION),
    Metric("load_play_ratio", "Load-to-play ratio", "Plays divided by player impressions.", Unit.RATIO),
    Metric("engagement_ranking", "Engagement",
           "5 x plays / most plays + 2.5 x unique viewers / most unique viewers + min(0.025 x avg. completion %, 2.5); "
           "0-10.", Unit.SCORE),
    Metric("room_unique_viewers", "Unique viewers",
           "Distinct signed-in people who joined a session live or watched its recording. Stays by people "
           "who were not signed in are counted apart.", Unit.COUNT),
    Metric("room_avg_minutes_viewed", "Avg. minutes viewed",
           "Minutes signed-in people spent in the sessions, live or recording (overlapping stays counted once, "
           "plus playback of the recording's media entry), "
           "divided by unique viewers.", Unit.MINUTES),
    Metric("live_engagement_level", "Live engagement level",
           "Per sample: sound on, tab focused and full screen = high; sound on and focused = good; sound on, "
           "not focused = fair; sound off, focused = low; sound off, not focused = none.", Unit.LEVEL),
    Metric("live_engagement_rate", "Live engagement rate",
           "Live viewing time at the high or good level divided by all sampled live viewing time "
           "(per session, per person or per minute).", Unit.FRACTION),
    Metric("live_unique_viewers", "Live unique viewers",
           "Signed-in people with a live stay, plus each live stay of someone not signed in.", Unit.COUNT),
    Metric("reactions_rate", "Sent live reactions",
           "People who sent a reaction divided by live unique viewers; the count leaves out throttled reactions.",
           Unit.FRACTION),
    Metric("attachments_rate", "Attachments downloaded",
           "People who downloaded an attachment divided by live unique viewers; the count is every download.",
           Unit.FRACTION),
    Metric("chat_rate", "Sent messages on group chat",
           "People who sent a group chat message divided by signed-in live attendees; breakout and Q&A "
           "messages are not group chat.", Unit.FRACTION),
    Metric("polls_rate", "Participation in polls",
           "People who answered any interaction (poll, quiz, rating, open question, crowd vote) divided by "
           "signed-in live attendees.", Unit.FRACTION),
    Metric("qa_rate", "Q&A threads created",
           "People who opened a Q&A thread divided by signed-in live attendees; the count is every thread.",
           Unit.FRACTION),
    Metric("recording_plays", "Recording plays",
           "Times someone started watching a session's recording: plays of the recording's media entry plus "
           "recording stays the room feed reports.", Unit.COUNT),
    Metric("recording_unique_viewers", "Recording unique viewers",
           "Signed-in people who watched a session's recording (its media entry or a recording stay).", Unit.COUNT),
    Metric("interaction_answer_rate", "Answer rate",
           "Participants who chose the answer divided by participants who answered the interaction.", Unit.FRACTION),
)}


def ratio(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


def avg_completion_rate(capped_percentile_sum: int, plays: int) -> float | None:
    """Percent 0-100."""
    value = ratio(capped_percentile_sum, plays)
    return None if value is None else min(value, 100.0)


def avg_drop_off(quartile_events: int, plays: int) -> float | None:
    """Fraction 0-1."""
    value = ratio(quartile_events / 4, plays)
    return None if value is None else min(value, 1.0)


def total_completion_rate(bitsets: list[str | None]) -> float | None:
    """Percent 0-100: distinct percentiles covered by any of the plays' 101-character bitsets."""
    known = [b for b in bitsets if b]
    if not known:
        return None
    mask = 0
    for bits in known:
        mask |= int(bits, 2)
    return float(min(mask.bit_count(), 100))


def engagement_ranking(plays: int, max_plays: int, viewers: int, max_viewers: int,
                       completion_percent: float | None) -> float:
    """Kaltura's 0-10 engagement score."""
    score = 5 * (ratio(plays, max_plays) or 0) + 2.5 * (ratio(viewers, max_viewers) or 0)
    return round(score + min(0.025 * (completion_percent or 0), 2.5), 4)
