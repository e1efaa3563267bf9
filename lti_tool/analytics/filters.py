"""Dashboard filters: parsed from the URL (so every view can be bookmarked), turned into UTC spans.

Date ranges are evaluated in the viewer's time zone: "last 7 days" ends at the end of yesterday
there (or today with include_today), and each local day starts at local midnight.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from lti_tool.models.media import MEDIA_TYPES
from lti_tool.models.types import LAST_DAY, MAX_INTEGER

PRESETS = {
    "last7": "Last 7 days",
    "last30": "Last 30 days",
    "last3m": "Last 3 months",
    "last12m": "Last 12 months",
    "creation": "Since creation",
    "custom": "Custom range",
}
COMPARES = {"none": "No comparison", "previous": "Previous period", "last_year": "Same period last year"}
CONTEXTS = {"all": "All viewing", "inside": "Inside the gallery page", "outside": "Embedded elsewhere"}
DEVICES = ("desktop", "mobile", "tablet", "other")
EARLIEST = date(2000, 1, 1)
LATEST = LAST_DAY   # the last day the tool can hold facts of
MAX_VALUES = 50


# URL argument (repeated for several values) -> Filters field.
ARG_NAMES = {"media_type": "media_types", "tag": "tags", "owner": "owners", "country": "countries",
             "region": "regions", "city": "cities", "domain": "domains", "device": "devices"}


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class Filters:
    preset: str = "last30"
    start: date | None = None        # custom range, local dates, inclusive
    end: date | None = None
    include_today: bool = False
    compare: str = "none"
    granularity: str = "auto"        # auto, day, month
    media_types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    owners: tuple[int, ...] = ()     # person ids
    countries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    context: str = "all"

    def query_args(self, **changes) -> dict:
        """URL query arguments for these filters (with changes), defaults left out: a round trip."""
        current = replace(self, **changes) if changes else self
        args: dict[str, object] = {}
        if current.preset != "last30":
            args["range"] = current.preset
        if current.preset == "custom":
            args["from"], args["to"] = current.start.isoformat(), current.end.isoformat()
        if current.include_today:
            args["today"] = "1"
        for name, default in (("compare", "none"), ("granularity", "auto"), ("context", "all")):
            if getattr(current, name) != default:
                args[name] = getattr(current, name)
        for arg, name in ARG_NAMES.items():
            if getattr(current, name):
                args[arg] = [str(v) for v in getattr(current, name)]
        return args


def parse(args) -> Filters:
    """Filters from request.args (a MultiDict); FilterError names what is wrong."""
    preset = args.get("range", "last30")
    if preset not in PRESETS:
        raise FilterError(f"range must be one of {', '.join(PRESETS)}")
    start = end = None
    if preset == "custom":
        try:
            start, end = date.fromisoformat(args.get("from", "")), date.fromisoformat(args.get("to", ""))
        except ValueError as exc:
            raise FilterError("a custom range needs from and to as YYYY-MM-DD") from exc
        if not EARLIEST <= start <= end <= LATEST or (end - start).days > 3660:
            raise FilterError(f"the custom range must end after it starts, span at most ten years and lie "
                              f"between {EARLIEST} and {LATEST}")
    compare = args.get("compare", "none")
    if compare not in COMPARES:
        raise FilterError(f"compare must be one of {', '.join(COMPARES)}")
    granularity = args.get("granularity", "auto")
    if granularity not in ("auto", "day", "month"):
        raise FilterError("granularity must be auto, day or month")
    context = args.get("context", "all")
    if context not in CONTEXTS:
        raise FilterError(f"context must be one of {', '.join(CONTEXTS)}")
    values: dict[str, tuple] = {}
    for arg, name in ARG_NAMES.items():
        raw = [v for v in args.getlist(arg) if v][:MAX_VALUES + 1]
        if len(raw) > MAX_VALUES or any(len(v) > 255 for v in raw):
            raise FilterError(f"at most {MAX_VALUES} {arg} values of at most 255 characters")
        values[name] = tuple(dict.fromkeys(raw))
    # Country codes are stored upper case (ISO 3166): "us" means US. Regions and cities keep their
    # spelling here and are matched case-insensitively by Scope.where.
    values["countries"] = tuple(dict.fromkeys(v.upper() for v in values["countries"]))
    if any(v not in MEDIA_TYPES for v in values["media_types"]):
        raise FilterError(f"media_type must be among {', '.join(MEDIA_TYPES)}")
    if any(v not in DEVICES for v in values["devices"]):
        raise FilterError(f"device must be among {', '.join(DEVICES)}")
    owners = values.pop("owners")
    if not all(v.isascii() and v.isdigit() and 1 <= int(v) <= MAX_INTEGER for v in owners):
        raise FilterError("owner must be a person id")
    owners = tuple(int(v) for v in owners)
    return Filters(preset=preset, start=start, end=end, include_today=args.get("today") == "1", compare=compare,
                   granularity=granularity, context=context, owners=owners, **values)


@dataclass(frozen=True)
class Period:
    first_day: date                  # local, inclusive
    last_day: date                   # local, inclusive
    start: datetime                  # UTC instant of first_day's local midnight
    end: datetime                    # UTC instant of the local midnight after last_day (exclusive)
    granularity: str                 # day or month
    compare: "Period | None" = field(default=None, compare=False)
    # A compare period is drawn on the current period's buckets: from each of these local days on,
    # a day falls at the position of the day that many days later (see `_compare`). Empty otherwise.
    shifts: tuple[tuple[date, int], ...] = ()
    # A compare period's: the current period's first and last local day, whose buckets it is drawn on
    # (its own last day may fall before the current last, as 28 February against a 29 February).
    drawn_on: tuple[date, date] | None = None
    zone: str | None = None          # the zone whose local days these are

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def _instant(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, zone).astimezone(timezone.utc)


def _months_back(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    return date(year, month + 1, min(day.day, 28)) + timedelta(days=1)


def period(filters: Filters, tz: str, now: datetime, since: datetime | None = None) -> Period:
    """The local dates and UTC span the filters mean for a viewer in `tz` at `now`. `since` is when the
    subject (course, entry, room) was created, an aware instant: "since creation" starts on its local
    date in `tz`, on every page, report, CSV and PDF alike."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    last = today if filters.include_today else today - timedelta(days=1)
    if filters.preset == "custom":
        first, last = filters.start, filters.end
    elif filters.preset == "creation":
        first = min(since.astimezone(zone).date() if since else last, last)
        last = today  # "since creation" includes today, as the seeds describe
    else:
        first = {"last7": lambda: last - timedelta(days=6), "last30": lambda: last - timedelta(days=29),
                 "last3m": lambda: _months_back(last, 3), "last12m": lambda: _months_back(last, 12)}[filters.preset]()
    granularity = filters.granularity
    if granularity == "auto":
        granularity = "day" if (last - first).days < 92 else "month"
    current = Period(first, last, _instant(first, zone), _instant(last + timedelta(days=1), zone), granularity,
                     zone=tz)
    if filters.compare not in ("previous", "last_year"):
        return current
    return replace(current, compare=_compare(current, filters.compare, zone))


def _compare(current: Period, kind: str, zone: ZoneInfo) -> Period:
    """The compare period, drawn on the current period's buckets and aligned by position.

    Each current day d is matched with the compare days from back(d) up to back(d + 1) - 1, where back
    moves a day to the previous period (span days earlier) or to the same date a year earlier (29
    February to 1 March, so no day is counted twice). Every compare day falls at exactly one current
    day: a bucket of the current period (a day, or the days of a month within the period) has the
    compare days of its own days at the same position, so both series have the same points. The
    compare period is back(first) (28 February for a leap day) to back(last + 1) - 1.
    """
    first, last, one = current.first_day, current.last_day, timedelta(days=1)
    if kind == "previous":
        span = last - first + one

        def back(day: date) -> date:
            return day - span
        c_first = back(first)
    else:
        back = _year_earlier
        c_first = _shift_year(first)
    c_last = back(last + one) - one
    shifts: list[tuple[date, int]] = []
    day, compare_day = first, c_first
    while day <= last:
        following = back(day + one) if day < last else c_last + one
        while compare_day < following:
            days_later = (day - compare_day).days
            if not shifts or shifts[-1][1] != days_later:
                shifts.append((compare_day, days_later))
            compare_day += one
        day += one
    return Period(c_first, c_last, _instant(c_first, zone), _instant(c_last + one, zone), current.granularity,
                  shifts=tuple(shifts), drawn_on=(first, last), zone=current.zone)


def _shift_year(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _year_earlier(day: date) -> date:
    """The same date a year earlier; 1 March for 29 February (the first day on or after it)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return date(day.year - 1, 3, 1)
