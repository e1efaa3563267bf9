"""The embed reports of the report API: embed-domains, embed-pages and embed-audit.

Plays a few days old (inside the default last 30 days) on the seed institution's domains
(config/__init__.py EXAMPLE_EMBED_HOSTS), for two entries of the course gallery:

    domain               entry  plays  page URL
    canvas.umn.edu       1_e1   2      https://canvas.umn.edu/courses/1/pages/a
    canvas.umn.edu       1_e2   1      https://canvas.umn.edu/courses/1/pages/a
    umn.qualtrics.com    1_e1   2      https://umn.qualtrics.com/jfe/form/SV_x     (survey: page hidden)
    kaf.canvas.umn.edu   1_e1   1      (KAF: managed)
    mediaspace.umn.edu   1_e2   1      (media portal: managed)
    C:                   1_e2   1      file:///C:/Users/x/a.html                   (offline)
    (unknown)            1_e2   1      no page URL
    canvas.umn.edu       1_e1   1      https://canvas.umn.edu/courses/1/pages/old  200 days ago

Every play has its own impression (load) on the same page.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest


from ..support.factories import another_tenant, bearer, make_play

CANVAS_PAGE = "https://canvas.umn.edu/courses/1/pages/a"
OLD_PAGE = "https://canvas.umn.edu/courses/1/pages/old"
QUALTRICS = "https://umn.qualtrics.com/jfe/form/SV_x"
OFFLINE = "file:///C:/Users/x/a.html"
PLAYS = [  # (entry, page URL or None, days ago)
    ("1_e1", CANVAS_PAGE, 3), ("1_e1", CANVAS_PAGE, 3), ("1_e2", CANVAS_PAGE, 4),
    ("1_e1", QUALTRICS, 3), ("1_e1", QUALTRICS, 5),
    ("1_e1", "https://kaf.canvas.umn.edu/browseandembed/index/media/entryid/1_e1", 3),
    ("1_e2", "https://mediaspace.umn.edu/media/t/1_e2", 3),
    ("1_e2", OFFLINE, 3),
    ("1_e2", None, 3),
    ("1_e1", OLD_PAGE, 200),
]


def _events() -> list[dict]:
    now = datetime.now(UTC).replace(microsecond=0)
    return [event for i, (entry, url, days) in enumerate(PLAYS)
            for event in make_play(i, now - timedelta(days=days, minutes=i), entry=entry, user=f"sub:viewer-{i % 3}",
                                   page_url=url)]


@pytest.fixture
def course(gallery_course):
    """A launched course whose gallery holds 1_e1 and 1_e2, with the plays above stored."""
    return gallery_course(_events(), ["1_e1", "1_e2"])


def get(client, auth, name, **args):
    """The report in UTC; an argument given as None is left out, a list is repeated."""
    query = {key: value for key, value in {"tz": "UTC", **args}.items() if value is not None}
    return client.get(f"/api/v1/reports/{name}", query_string=query, headers=auth)


def body(client, auth, name, **args) -> dict:
    response = get(client, auth, name, **args)
    assert response.status_code == 200, response.text
    return response.get_json()


def test_embed_domains_rank_by_plays_with_their_classification(client, auth, course):
    result = body(client, auth, "embed-domains", course=course.id)
    assert result["filters"] == {}                                  # the default last 30 days
    assert set(result["metrics"]) == {"impressions", "plays", "unique_viewers", "minutes_viewed",
                                      "avg_completion_rate", "played_entries"}
    rows = result["data"]["rows"]
    assert result["data"]["total"] == len(rows) == 6               # the old page is outside the last 30 days
    assert [r["plays"] for r in rows] == sorted((r["plays"] for r in rows), reverse=True)
    assert [(r["key"], r["plays"]) for r in rows[:2]] == [("canvas.umn.edu", 3), ("umn.qualtrics.com", 2)]
    by_key = {r["key"]: r for r in rows}
    assert set(by_key) == {"canvas.umn.edu", "umn.qualtrics.com", "kaf.canvas.umn.edu", "mediaspace.umn.edu",
                           "C:", "(unknown)"}
    canvas = by_key["canvas.umn.edu"]
    assert (canvas["impressions"], canvas["played_entries"], canvas["domain"]) == (3, 2, "canvas.umn.edu")
    assert canvas["last_seen_at"] is not None
    c = canvas["classification"]
    assert (c["category"], c["needs_action"], c["managed"], c["page"], c["page_identifiable"]) == (
        "lms_page", "yes", False, "open", True)
    assert c["category_label"] and c["explanation"] and c["guidance"] and isinstance(c["rule_line"], int)
    categories = {key: (r["classification"]["category"], r["classification"]["page_identifiable"])
                  for key, r in by_key.items()}
    assert categories == {"canvas.umn.edu": ("lms_page", True), "umn.qualtrics.com": ("survey", False),
                          "kaf.canvas.umn.edu": ("kaf", True), "mediaspace.umn.edu": ("media_portal", True),
                          "C:": ("offline", False), "(unknown)": ("unknown", False)}
    assert by_key["kaf.canvas.umn.edu"]["classification"]["managed"] is True
    assert by_key["(unknown)"]["domain"] is None and by_key["(unknown)"]["classification"]["rule_line"] is None
    limited = body(client, auth, "embed-domains", course=course.id, limit="2")["data"]
    assert [r["key"] for r in limited["rows"]] == ["canvas.umn.edu", "umn.qualtrics.com"] and limited["total"] == 6
    # One entry: only its domains.
    entry = body(client, auth, "embed-domains", entry="1_e2")["data"]
    assert {r["key"]: r["plays"] for r in entry["rows"]} == {"canvas.umn.edu": 1, "mediaspace.umn.edu": 1,
                                                             "C:": 1, "(unknown)": 1}


def test_embed_pages_of_a_domain_list_its_pages_with_their_entries(client, auth, course):
    result = body(client, auth, "embed-pages", course=course.id, domain="canvas.umn.edu")
    data = result["data"]
    assert data["domain"] == "canvas.umn.edu" and data["total"] == 1
    assert data["classification"]["category"] == "lms_page" and data["classification"]["page_identifiable"]
    (page,) = data["rows"]
    assert (page["url"], page["openable"], page["plays"], page["impressions"]) == (CANVAS_PAGE, True, 3, 3)
    assert [(e["entry_id"], e["plays"], e["impressions"]) for e in page["entries"]] == [("1_e1", 2, 2),
                                                                                        ("1_e2", 1, 1)]
    assert all(e["name"] and e["last_seen_at"] for e in page["entries"])
    # Over 12 months the old page shows as well.
    year = body(client, auth, "embed-pages", course=course.id, domain="canvas.umn.edu", range="last12m")["data"]
    assert {r["url"]: r["plays"] for r in year["rows"]} == {CANVAS_PAGE: 3, OLD_PAGE: 1}
    # Plays without a page URL, and a domain whose URL cannot be opened.
    unknown = body(client, auth, "embed-pages", course=course.id, domain="(unknown)")["data"]
    assert unknown["classification"]["category"] == "unknown"
    assert [(r["url"], r["openable"], [e["entry_id"] for e in r["entries"]]) for r in unknown["rows"]] == [
        (None, False, ["1_e2"])]
    survey = body(client, auth, "embed-pages", course=course.id, domain="umn.qualtrics.com")["data"]
    assert [(r["url"], r["openable"], r["plays"]) for r in survey["rows"]] == [(QUALTRICS, False, 2)]


@pytest.mark.parametrize("domain", [None, ["canvas.umn.edu", "C:"]])
def test_embed_pages_needs_exactly_one_domain(client, auth, course, domain):
    response = get(client, auth, "embed-pages", course=course.id, domain=domain)
    assert response.status_code == 400
    assert "embed-pages needs exactly one domain=" in response.get_json()["error"]


def test_embed_audit_default_selection_and_notes(client, auth, course):
    result = body(client, auth, "embed-audit", course=course.id)
    assert result["filters"] == {"range": "last12m"}
    period = result["period"]
    span = (date.fromisoformat(period["last_day"]) - date.fromisoformat(period["first_day"])).days + 1
    assert 360 <= span <= 370
    data = result["data"]
    assert data["default_selection"] is True
    assert set(data["selected"]) == {"canvas.umn.edu", "umn.qualtrics.com", "C:", "(unknown)"}
    assert {r["key"] for r in data["domains"]} == {*data["selected"], "kaf.canvas.umn.edu", "mediaspace.umn.edu"}
    assert next(r for r in data["domains"] if r["key"] == "canvas.umn.edu")["plays"] == 4   # the old play counts
    groups = {g["key"]: g for g in data["groups"]}
    assert set(groups) == set(data["selected"])
    assert [g["key"] for g in data["groups"]][:2] == ["canvas.umn.edu", "umn.qualtrics.com"]

    canvas = groups["canvas.umn.edu"]
    assert canvas["classification"]["category"] == "lms_page" and (canvas["pages"], canvas["entries"]) == (2, 2)
    assert [(r["page_url"], r["entry_id"], r["plays"], r["page_identifiable"], r["note"]) for r in canvas["rows"]] == [
        (CANVAS_PAGE, "1_e1", 2, True, ""), (CANVAS_PAGE, "1_e2", 1, True, ""), (OLD_PAGE, "1_e1", 1, True, "")]
    assert set(canvas["rows"][0]) == {"page_url", "page_identifiable", "note", "entry_id", "entry_name", "plays",
                                      "impressions", "last_seen_at"}

    (survey,) = groups["umn.qualtrics.com"]["rows"]
    assert (survey["page_url"], survey["page_identifiable"], survey["plays"]) == (QUALTRICS, False, 2)
    assert "cannot be identified" in survey["note"]
    assert groups["umn.qualtrics.com"]["classification"]["page_identifiable"] is False

    offline = groups["C:"]
    assert offline["classification"]["category"] == "offline" and offline["classification"]["needs_action"] == "n/a"
    (row,) = offline["rows"]
    assert (row["page_url"], row["entry_id"], row["page_identifiable"]) == (OFFLINE, "1_e2", False)
    assert row["note"]

    unknown = groups["(unknown)"]
    assert unknown["domain"] is None and unknown["classification"]["category"] == "unknown"
    (row,) = unknown["rows"]
    assert (row["page_url"], row["entry_id"], row["page_identifiable"]) == (None, "1_e2", False)
    assert "no page URL" in row["note"]
    assert data["total_rows"] == sum(len(g["rows"]) for g in data["groups"]) == 6


def test_embed_audit_honours_an_explicit_selection_and_range(client, auth, course):
    data = body(client, auth, "embed-audit", course=course.id,
                domain=["kaf.canvas.umn.edu", "canvas.umn.edu"])["data"]
    assert data["default_selection"] is False
    assert data["selected"] == ["kaf.canvas.umn.edu", "canvas.umn.edu"]
    assert [g["key"] for g in data["groups"]] == ["canvas.umn.edu", "kaf.canvas.umn.edu"]   # by plays
    kaf = data["groups"][1]
    assert [(r["entry_id"], r["plays"]) for r in kaf["rows"]] == [("1_e1", 1)]
    assert kaf["classification"]["managed"] is True
    # The whole scope is listed whatever is selected.
    assert len(data["domains"]) == 6
    # An explicit range replaces the 12-month default: the old play drops out.
    month = body(client, auth, "embed-audit", course=course.id, range="last30", domain="canvas.umn.edu")
    assert month["filters"] == {"domain": ["canvas.umn.edu"]}
    (canvas,) = month["data"]["groups"]
    assert {r["page_url"] for r in canvas["rows"]} == {CANVAS_PAGE}
    span = (date.fromisoformat(month["period"]["last_day"]) - date.fromisoformat(month["period"]["first_day"]))
    assert span.days + 1 == 30


def test_only_embed_audit_defaults_to_twelve_months(client, auth, course):
    domains = body(client, auth, "embed-domains", course=course.id)
    span = (date.fromisoformat(domains["period"]["last_day"]) - date.fromisoformat(domains["period"]["first_day"]))
    assert span.days + 1 == 30
    assert "last12m" in client.get("/api/v1/openapi.json").get_json()["paths"]["/reports/{id}"]["get"]["description"]


def test_embed_reports_are_documented(client):
    doc = client.get("/api/v1/openapi.json").get_json()["paths"]["/reports/{id}"]
    names = doc["parameters"][0]["schema"]["enum"]
    assert {"embed-domains", "embed-pages", "embed-audit"} <= set(names)
    assert all(f"`{name}`" in doc["get"]["description"] for name in ("embed-domains", "embed-pages", "embed-audit"))


@pytest.fixture
def other_auth(db, registration):
    """A token of another registration."""
    return bearer(another_tenant().id)


@pytest.mark.parametrize("name, args", [
    ("embed-domains", {}), ("embed-pages", {"domain": "canvas.umn.edu"}), ("embed-audit", {})])
def test_another_registrations_token_is_refused(client, course, other_auth, name, args):
    response = get(client, other_auth, name, course=course.id, **args)
    assert response.status_code == 404            # as for a course that does not exist: nothing is told
    assert response.get_json()["error"] == "no such course"
    assert client.get(f"/api/v1/reports/{name}?course={course.id}").status_code == 401


@pytest.mark.parametrize("name, args, message", [
    ("embed-audit", {"course": None, "entry": "1_e1"}, "needs exactly one subject: course="),
    ("embed-audit", {"range": "forever"}, "range must be one of"),
    ("embed-audit", {"from": "2026-10-05", "to": "2026-10-01", "range": "custom"}, "must end after it starts"),
    ("embed-domains", {"limit": "0"}, "limit must be an integer from 1 to 500"),
    ("embed-domains", {"tz": "Mars/Olympus"}, "is not a time zone"),
    ("embed-pages", {"domain": "canvas.umn.edu", "limit": "x"}, "limit must be an integer"),
    ("embed-pages", {"entry": "1_e1", "domain": "C:"}, "course= or entry="),                   # both subjects
])
def test_bad_arguments(client, auth, course, name, args, message):
    response = get(client, auth, name, **{"course": course.id, **args})
    assert response.status_code == 400, response.text
    assert message in response.get_json()["error"]
