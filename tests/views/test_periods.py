"""One period everywhere: compare periods drawn on the current period's buckets, and "since creation"
starting on the same local day on the pages, in the report API, the CSV export and the PDF summary.

Every view here is one a teacher picks from the filter bar; the sweep covers every range preset, a few
custom ranges, both compare options and both granularities on each surface that draws a timeline.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from html import unescape

import pytest
from flask import g
from sqlalchemy import select

from lti_tool.exports import pdf
from lti_tool.exports.selection import gallery_params
from lti_tool.models import Person
from werkzeug.datastructures import MultiDict

from ..support.clients import Requests
from ..support.factories import add_to_gallery, bearer, entry, ingest, make_play

TZ = "America/Chicago"                                         # the teacher's zone (tests/support/canvas.py)
NOW = datetime(2026, 10, 3, 15, 0, tzinfo=timezone.utc)        # Oct 3, 10:00 in Chicago
CREATED = datetime(2026, 4, 30, 0, 0, tzinfo=timezone.utc)     # 00:00 UTC: still Apr 29 in Chicago
# Modules that read the clock to turn a preset into dates.
CLOCK_READERS = ("lti_tool.views.dashboards", "lti_tool.views.api.reports", "lti_tool.exports.pdf")

RANGES = (
    {"range": "last7"}, {"range": "last30"}, {"range": "last3m"}, {"range": "last12m"}, {"range": "creation"},
    {"range": "custom", "from": "2026-01-31", "to": "2026-03-01"},   # five weeks over three months
    {"range": "custom", "from": "2026-09-28", "to": "2026-10-02"},   # across a month's end
    {"range": "custom", "from": "2024-02-29", "to": "2024-03-01"},   # starts on a leap day
    {"range": "custom", "from": "2025-02-01", "to": "2025-03-31"},   # a year after a leap day
    {"range": "custom", "from": "2023-04-01", "to": "2024-02-29"},   # ends on a leap day (no such day last year)
)
VIEWS = [{**r, "compare": compare, "granularity": granularity}
         for r in RANGES for compare in ("previous", "last_year") for granularity in ("auto", "day", "month")]


def play_events(day: date, index: int) -> list[dict]:
    """One player load and one 30-second play of 1_e1 at noon UTC on `day` (signed in every other time)."""
    at = datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)
    return make_play(index, at, user=f"sub:viewer-{index % 3}" if index % 2 else None)


# Plays every 9 days from the start of 2023 to the day before NOW: every compare period has some.
PLAY_DAYS = [date(2023, 1, 1) + timedelta(days=9 * k) for k in range((date(2026, 10, 2) - date(2023, 1, 1)).days // 9 + 1)]


@pytest.fixture
def fixed_clock(monkeypatch):
    for module in CLOCK_READERS:
        monkeypatch.setattr(f"{module}.utcnow", lambda: NOW)


@pytest.fixture
def world(launch_as, db, registration, fixed_clock):
    """A teacher's course created at 00:00 UTC whose gallery holds 1_e1 (owned by the teacher), with plays
    spread over four years."""
    teacher = launch_as("teacher")
    course = teacher.course
    course.created_at = CREATED
    events = [e for k, day in enumerate(PLAY_DAYS) for e in play_events(day, k)]
    ingest(registration.id, events)
    media = entry(db.session, "1_e1")
    media.owner_person_id = db.session.scalar(select(Person.id).where(Person.email == "teacher@test.edu"))
    media.entry_created_at = CREATED
    add_to_gallery(db.session, course, "1_e1")
    api = Requests(teacher.client, bearer(registration.id))

    def page_get(path: str, args: dict):
        return teacher.get(f"/courses/{course.id}{path}", query_string=args)

    def api_get(name: str, args: dict):
        return api.get(f"/api/v1/reports/{name}", query_string={**args, "tz": TZ})
    return {"course": course, "entry": media, "page": page_get, "api": api_get, "db": db}


def timeline_table(html: str) -> list[list[str]]:
    """The rows (label, cells...) of the timeline chart's data table on a page."""
    figure = re.search(r'<figure class="chart" id="timeline-chart">(.*?)</figure>', html, re.S)
    assert figure, "the page has no timeline chart"
    body = re.search(r"<tbody>(.*?)</tbody>", figure.group(1), re.S).group(1)
    return [[unescape(c) for c in re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def page_period(html: str) -> tuple[date, date]:
    """The first and last local day a page says it shows ("Sep 26, 2026 – Oct 2, 2026")."""
    note = re.search(r'<p class="period-note">([A-Z][a-z]{2} \d+, \d{4}) – ([A-Z][a-z]{2} \d+, \d{4})', html)
    return tuple(datetime.strptime(day, "%b %d, %Y").date() for day in note.groups())


def expected_points(first: date, last: date, granularity: str) -> int:
    """Buckets between two local dates, counted here without the product's code."""
    if granularity == "day":
        return (last - first).days + 1
    return (last.year - first.year) * 12 + last.month - first.month + 1


def label(view: dict) -> str:
    return "&".join(f"{k}={v}" for k, v in view.items())


@pytest.mark.parametrize("path", ["/gallery/", "/entries/1_e1/", "/my-analytics/"])
def test_every_compare_view_draws_the_compare_period_on_the_current_buckets(world, path):
    failures = []
    for view in VIEWS:
        try:
            response = world["page"](path, view)
        except Exception as exc:  # noqa: BLE001 - in testing, a 500's exception reaches the test client
            failures.append(f"{label(view)}: {exc!r}")
            continue
        if response.status_code != 200:
            failures.append(f"{label(view)}: {response.status_code}")
            continue
        if path == "/entries/1_e1/":   # the single-media page draws no timeline: its highlights compare
            if "compared with" not in response.text:
                failures.append(f"{label(view)}: no compare period on the page")
            continue
        rows = timeline_table(response.text)
        first, last = page_period(response.text)
        granularity = view["granularity"] if view["granularity"] != "auto" else (
            "day" if (last - first).days < 92 else "month")
        wanted = expected_points(first, last, granularity)
        if len(rows) != wanted or any(len(row) != 3 or not row[2].strip() for row in rows):
            failures.append(f"{label(view)}: {len(rows)} rows for {wanted} buckets, {rows[:3]}")
    assert not failures, f"{len(failures)} of {len(VIEWS)} views fail on {path}:\n" + "\n".join(failures)


@pytest.mark.parametrize("report, subject", [("gallery-timeline", "course"), ("entry-timeline", "entry")])
def test_every_compare_view_in_the_report_api(world, report, subject):
    """As many compare points as points, aligned by position, and every day of each period counted once:
    the points add up to the highlights of their period."""
    subject_args = {"course": world["course"].id} if subject == "course" else {"entry": "1_e1"}
    highlights_report = "gallery-highlights" if subject == "course" else "entry-highlights"
    failures = []
    for view in VIEWS:
        response = world["api"](report, {**view, **subject_args})
        if response.status_code != 200:
            failures.append(f"{label(view)}: {response.status_code} {response.get_json()}")
            continue
        body = response.get_json()
        points, compare = body["data"]["points"], body["data"]["compare_points"]
        first, last = date.fromisoformat(body["period"]["first_day"]), date.fromisoformat(body["period"]["last_day"])
        highlights = world["api"](highlights_report, {**view, **subject_args}).get_json()["data"]
        problems = []
        if len(points) != expected_points(first, last, body["period"]["granularity"]) or len(compare) != len(points):
            problems.append(f"{len(points)} points, {len(compare)} compare points")
        if [p["bucket"] for p in compare] != [p["bucket"] for p in points]:
            problems.append("compare points are not on the current buckets")
        for name in ("plays", "impressions"):
            if sum(p[name] for p in points) != highlights["current"][name]:
                problems.append(f"current {name} do not add up")
            if sum(p[name] for p in compare) != highlights["previous"][name]:
                problems.append(f"compare {name} add up to {sum(p[name] for p in compare)}, "
                                f"not {highlights['previous'][name]}")
        # Each point holds the plays of exactly its days (a play at noon UTC is on that date in Chicago).
        for point in points + compare:
            days = (point["first_day"], point["last_day"])
            wanted = sum(1 for d in PLAY_DAYS if days[0] and days[0] <= d.isoformat() <= days[1])
            if point["plays"] != wanted:
                problems.append(f"{point['bucket']} {days}: {point['plays']} plays, not {wanted}")
                break
        compare_days = [(p["first_day"], p["last_day"]) for p in compare if p["first_day"]]
        period_compare = body["period"]["compare"]
        if compare_days and (compare_days[0][0] != period_compare["first_day"]
                             or compare_days[-1][1] != period_compare["last_day"]):
            problems.append(f"compare points span {compare_days[0][0]}..{compare_days[-1][1]}, "
                            f"the compare period {period_compare}")
        if problems:
            failures.append(f"{label(view)}: {'; '.join(problems)}")
    assert not failures, f"{len(failures)} of {len(VIEWS)} views fail:\n" + "\n".join(failures)


def test_every_compare_view_in_the_gallery_pdf(world):
    db, course = world["db"], world["course"]
    for name in ("viewer", "course"):  # as in a worker: no viewer left over from the launch's requests
        g.pop(name, None)
    failures = []
    for view in VIEWS:
        try:
            summary = pdf.gallery_summary(db.session, course.id, view, TZ)
        except Exception as exc:  # noqa: BLE001 - the sweep reports every failing view at once
            failures.append(f"{label(view)}: {exc!r}")
            continue
        chart = summary.timeline_chart
        if chart.headers[-1] != "Compare period" or any(len(row) != 3 for row in chart.rows):
            failures.append(f"{label(view)}: {chart.headers} {chart.rows[:2]}")
    assert not failures, f"{len(failures)} of {len(VIEWS)} views fail:\n" + "\n".join(failures)
    # The file itself, for the view of the issue.
    data = pdf.gallery_summary_pdf(db.session, course.id, {"range": "creation", "compare": "previous"}, TZ)
    assert data.startswith(b"%PDF-")


def test_compare_points_sit_at_the_same_position_of_their_period(world):
    """Last 7 days (Sep 26 - Oct 2 in Chicago) against the 7 before: a play on Sep 19 (position 0 of the
    previous period) is drawn at Sep 26; by month, the current days of September and of October each
    have the previous period's days at the same positions."""
    api = world["api"]
    course = world["course"].id
    by_day = api("gallery-timeline", {"range": "last7", "compare": "previous", "course": course}).get_json()["data"]
    assert [p["bucket"] for p in by_day["points"]][0] == "2026-09-26"
    played = {d.isoformat() for d in PLAY_DAYS}
    for point, compare in zip(by_day["points"], by_day["compare_points"]):
        assert compare["first_day"] == compare["last_day"]
        assert date.fromisoformat(compare["first_day"]) == date.fromisoformat(point["bucket"]) - timedelta(days=7)
        assert compare["plays"] == (1 if compare["first_day"] in played else 0)
    by_month = api("gallery-timeline", {"range": "last7", "compare": "previous", "granularity": "month",
                                        "course": course}).get_json()["data"]
    assert [(p["bucket"], p["first_day"], p["last_day"]) for p in by_month["points"]] == [
        ("2026-09", "2026-09-26", "2026-09-30"), ("2026-10", "2026-10-01", "2026-10-02")]
    assert [(p["bucket"], p["first_day"], p["last_day"]) for p in by_month["compare_points"]] == [
        ("2026-09", "2026-09-19", "2026-09-23"), ("2026-10", "2026-09-24", "2026-09-25")]


def test_same_period_last_year_keeps_calendar_days_around_a_leap_day(world):
    """Feb 1 - Mar 31 2025 against 2024: 29 February 2024 counts with 28 February 2025 (never lost,
    never twice); a period starting on a leap day compares from 28 February."""
    api, course = world["api"], world["course"].id
    body = api("gallery-timeline", {"range": "custom", "from": "2025-02-01", "to": "2025-03-31",
                                    "compare": "last_year", "granularity": "day", "course": course}).get_json()
    assert body["period"]["compare"] == {"first_day": "2024-02-01", "last_day": "2024-03-31"}
    compare = {p["bucket"]: (p["first_day"], p["last_day"]) for p in body["data"]["compare_points"]}
    assert compare["2025-02-28"] == ("2024-02-28", "2024-02-29")
    assert compare["2025-03-01"] == ("2024-03-01", "2024-03-01")
    leap = api("gallery-timeline", {"range": "custom", "from": "2024-02-28", "to": "2024-03-01",
                                    "compare": "last_year", "course": course}).get_json()
    assert leap["period"]["compare"] == {"first_day": "2023-02-28", "last_day": "2023-03-01"}
    assert [(p["bucket"], p["first_day"]) for p in leap["data"]["compare_points"]] == [
        ("2024-02-28", "2023-02-28"), ("2024-02-29", None), ("2024-03-01", "2023-03-01")]


def test_since_creation_starts_on_the_same_local_day_everywhere(world):
    """The course and its entry were created at 00:00 UTC, which is the evening before in Chicago: the
    page, the report API, the CSV export's frozen range and the PDF all start on Apr 29."""
    db, course = world["db"], world["course"]
    gallery = world["page"]("/gallery/", {"range": "creation"}).text
    assert "Apr 29, 2026 – Oct 3, 2026" in gallery
    entry = world["page"]("/entries/1_e1/", {"range": "creation"}).text
    assert "Apr 29, 2026 – Oct 3, 2026" in entry
    for report, subject in (("gallery-highlights", {"course": course.id}), ("entry-highlights", {"entry": "1_e1"})):
        period = world["api"](report, {"range": "creation", **subject}).get_json()["period"]
        assert (period["first_day"], period["last_day"]) == ("2026-04-29", "2026-10-03"), report
    frozen = gallery_params(db.session, course, MultiDict({"range": "creation"}), TZ, NOW)["args"]
    assert (frozen["from"], frozen["to"]) == (["2026-04-29"], ["2026-10-03"])
    assert pdf.gallery_summary(db.session, course.id, {"range": "creation"}, TZ).when == "Apr 29, 2026 – Oct 3, 2026"
