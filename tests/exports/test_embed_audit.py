"""The embed audit: inventory on fixture data (the seed's steps 3-9), its page, drill-down and CSV export."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from lti_tool.analytics import embeds
from lti_tool.analytics.filters import Filters, period
from lti_tool.analytics.scopes import course_scope
from lti_tool.embed_rules import current_rules
from lti_tool.models import MediaEntry
from lti_tool.models.types import utcnow

from .conftest import export_id_of, sections
from ..support.factories import add_to_gallery, ingest

CANVAS_PAGE = "https://canvas.umn.edu/courses/1/pages/week-1"
SURVEY = "https://umn.qualtrics.com/jfe/form/SV_abc123"
SAVED = "file:///C:/Users/amy/Downloads/week-1.html"
STANDALONE = "https://cdnapisec.kaltura.com/index.php/extwidget/preview/partner_id/1/entry_id/1_e1"

# (page URL or None, entry, plays, days ago); each play comes with its impression.
VIEWS = [
    (CANVAS_PAGE, "1_e1", 2, 3), (CANVAS_PAGE, "1_e2", 1, 4),
    ("https://kaf.canvas.umn.edu/media/t/1_e1/123", "1_e1", 3, 2),
    ("https://mediaspace.umn.edu/media/week-1/1_e1", "1_e1", 1, 2),
    (SURVEY, "1_e2", 1, 5),
    (SAVED, "1_e1", 1, 200),          # in the last 12 months, not in the last 30 days
    (None, "1_e2", 0, 6),             # an impression without a page URL
    (STANDALONE, "1_e1", 1, 7),
    ("https://canvas.umn.edu/courses/1/pages/old", "1_e1", 1, 500),   # older than 12 months
]


def views_events(now):
    events = []
    for number, (url, entry, plays, days_ago) in enumerate(VIEWS):
        at = now - timedelta(days=days_ago, hours=1)
        for n in range(max(plays, 1)):
            load = f"load-{number}-{n}"
            page = {"page_url": url} if url else {}
            events.append({"id": f"i-{load}", "type": "impression", "time": _iso(at + timedelta(minutes=n)),
                           "entry_id": entry, "duration": 100, "load_id": load, "user": f"sub:viewer-{n}", **page})
            if n < plays:
                events.append({"id": f"p-{load}", "type": "play", "time": _iso(at + timedelta(minutes=n, seconds=5)),
                               "entry_id": entry, "duration": 100, "load_id": load, "play_id": f"play-{load}",
                               "position": 0, "user": f"sub:viewer-{n}", **page})
    return events


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def audited(launch_as, db, registration, exports_config):
    """The teacher's session on a course whose gallery holds every entry of the views above;
    get(query, target) opens the audit page, as htmx the block whose id is `target`."""
    teacher = launch_as("teacher")
    ingest(registration.id, views_events(utcnow()))
    add_to_gallery(db.session, teacher.course)

    def get(query="", target=None):
        return (teacher.htmx(target) if target else teacher).get(f"/courses/{teacher.course.id}/embeds/audit?{query}")
    get.course, get.teacher = teacher.course, teacher
    return get


def inventory(db, course, **filters):
    when = period(Filters(preset="last12m", **filters), "UTC", utcnow())
    scope = course_scope(db.session, course, Filters(preset="last12m", **filters), when)
    return embeds.audit(db.session, scope, current_rules())


def test_inventory_selects_the_domains_that_need_action(audited, db, app):
    result = inventory(db, audited.course)
    assert result.default_selection
    assert set(result.selected) == {"canvas.umn.edu", "umn.qualtrics.com", "C:", embeds.UNKNOWN_DOMAIN}
    groups = {g.domain.key: g for g in result.groups}
    # By plays, then impressions, then name.
    assert list(groups) == ["canvas.umn.edu", "C:", "umn.qualtrics.com", embeds.UNKNOWN_DOMAIN]
    canvas = [(r.page_url, r.entry_id, r.plays, r.impressions, r.page_identifiable, r.note)
              for r in groups["canvas.umn.edu"].rows]
    assert canvas == [(CANVAS_PAGE, "1_e1", 2, 2, True, ""), (CANVAS_PAGE, "1_e2", 1, 1, True, "")]
    survey, = groups["umn.qualtrics.com"].rows
    assert (survey.page_url, survey.entry_id, survey.page_identifiable) == (SURVEY, "1_e2", False)
    assert survey.note == embeds.PAGE_NOTES["hidden"] and survey.category == "Survey (Qualtrics)"
    saved, = groups["C:"].rows
    assert (saved.page_url, saved.needs_action, saved.page_identifiable) == (SAVED, "n/a", False)
    unknown, = groups[embeds.UNKNOWN_DOMAIN].rows
    assert (unknown.page_url, unknown.plays, unknown.impressions, unknown.note) == (None, 0, 1, embeds.NO_URL_NOTE)
    everything = {r.key for r in result.domains}
    assert {"kaf.canvas.umn.edu", "mediaspace.umn.edu", "cdnapisec.kaltura.com"} <= everything  # listed, not selected


def test_a_chosen_selection_is_honoured(audited, db):
    result = inventory(db, audited.course, domains=("cdnapisec.kaltura.com", "kaf.canvas.umn.edu"))
    assert not result.default_selection
    assert [g.domain.key for g in result.groups] == ["kaf.canvas.umn.edu", "cdnapisec.kaltura.com"]
    assert len(result.domains) == 7      # the checklist still shows every domain of the period


def test_audit_page_defaults_to_twelve_months(audited):
    html = audited().text
    assert "Embeds to update" in html and "Last 12 months</option>" in html
    assert 'value="last12m" selected' in html
    assert f'href="{CANVAS_PAGE}" target="_blank"' in html          # opens in a new tab
    assert "1_e2" in html and SAVED in html and embeds.NO_URL_NOTE in html
    assert embeds.PAGE_NOTES["hidden"] in html
    assert 'value="kaf.canvas.umn.edu" id=' in html and 'value="kaf.canvas.umn.edu" id="d-1" checked' not in html
    assert "/pages/old" not in html                                   # older than 12 months
    recent = audited("range=last30").text
    assert SAVED not in recent and CANVAS_PAGE in recent


def test_drill_into_one_domain(audited):
    block = audited("focus=umn.qualtrics.com", target="audit").text
    assert block.lstrip().startswith('<div id="audit"') and "<html" not in block
    assert "Embeds on umn.qualtrics.com" in block and "All selected domains" in block
    assert SURVEY in block and CANVAS_PAGE not in block.split('id="inventory"')[1]


def test_bad_audit_arguments_are_refused(audited):
    assert audited("range=forever").status_code == 400
    assert audited("device=toaster").status_code == 400
    assert audited("domain=" + "x" * 300).status_code == 400


def test_students_cannot_open_the_audit(audited, launch_as):
    response = launch_as("student").get(f"/courses/{audited.course.id}/embeds/audit")
    assert response.status_code == 403


def test_audit_csv_download_has_the_inventory(audited, app):
    page = audited().text
    assert 'hx-include="#audit-filters"' in page
    response = audited.teacher.htmx().post(f"/courses/{audited.course.id}/exports/",
                                           data={"kind": "audit-csv", "delivery": "download", "headers": "descriptive"})
    assert response.status_code == 200, response.text
    response.close()                      # the in-process job runs once the response is done
    status = audited.teacher.htmx().get(
        f"/courses/{audited.course.id}/exports/{export_id_of(response.text)}/status").text
    assert "Ready" in status, status
    link = status.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    report = sections(app.test_client().get(link).data)
    assert report["_preamble"][0][0] == "Embed audit"
    assert report["_preamble"][3][1].endswith("(those that need action)")
    header, *rows = report["Embed audit"]
    assert header == ["Domain", "Category", "Needs action", "What to do", "Page URL", "Page identifiable", "Note",
                      "Entry ID", "Entry", "Plays", "Player impressions", "Last seen"]
    table = [dict(zip(header, r)) for r in rows]
    assert [(r["Domain"], r["Page URL"], r["Entry ID"], r["Plays"]) for r in table] == [
        ("canvas.umn.edu", CANVAS_PAGE, "1_e1", "2"), ("canvas.umn.edu", CANVAS_PAGE, "1_e2", "1"),
        ("C:", SAVED, "1_e1", "1"), ("umn.qualtrics.com", SURVEY, "1_e2", "1"), ("Unknown", "", "1_e2", "0")]
    assert [r["Page identifiable"] for r in table] == ["yes", "yes", "no", "no", "no"]
    assert table[3]["Needs action"] == "yes" and "survey" in table[3]["What to do"]
    assert table[4]["Note"] == embeds.NO_URL_NOTE


def test_audit_csv_is_emailed_with_the_chosen_domains(audited, app, mail_on):
    response = audited.teacher.htmx().post(f"/courses/{audited.course.id}/exports/",
                                           data={"kind": "audit-csv", "delivery": "email", "headers": "raw",
                                                 "domain": "cdnapisec.kaltura.com", "range": "last3m"})
    assert response.status_code == 200, response.text
    response.close()
    mail_on.wait(1)
    report = sections(app.test_client().get(mail_on.link()).data)
    header, *rows = report["Embed audit"]
    assert header[:3] == ["domain", "category", "needs_action"]
    assert [(r[0], r[4], r[7]) for r in rows] == [("cdnapisec.kaltura.com", STANDALONE, "1_e1")]


def test_domains_block_drills_into_page_urls_with_entry_ids(audited):
    domains = audited.teacher.htmx("domains")
    gallery = domains.get(f"/courses/{audited.course.id}/gallery/?range=last12m&drill_domain=canvas.umn.edu").text
    assert "Page URLs on canvas.umn.edu" in gallery and "LMS page" in gallery
    assert f'href="{CANVAS_PAGE}" target="_blank"' in gallery
    assert gallery.index("1_e1") < gallery.index("1_e2")
    top = domains.get(f"/courses/{audited.course.id}/gallery/?range=last12m").text
    assert "Needs action" in top and "Managed" in top and "Media portal (MediaSpace)" in top


def _teacher(db):
    from lti_tool.models import Enrollment, Person

    return db.session.scalar(select(Person).join(Enrollment, Enrollment.person_id == Person.id)
                             .where(Enrollment.role_label == "Teacher"))


def test_my_media_audit_covers_only_what_i_own(audited, db, app):
    mine = f"/courses/{audited.course.id}/embeds/mine"
    refused = audited.teacher.get(mine)
    assert refused.status_code == 403                       # owns nothing yet
    entry = db.session.scalar(select(MediaEntry).where(MediaEntry.external_id == "1_e2"))
    entry.owner_person_id = _teacher(db).id
    db.session.commit()
    html = audited.teacher.get(mine).text
    assert "Embed audit of my media" in html and SURVEY in html and CANVAS_PAGE in html
    assert SAVED not in html                                # 1_e1's saved page is not the teacher's media
    my_analytics = audited.teacher.get(f"/courses/{audited.course.id}/my-analytics/").text
    assert f'href="{mine}"' in my_analytics
    response = audited.teacher.htmx().post(f"/courses/{audited.course.id}/exports/",
                                           data={"kind": "audit-mine-csv", "delivery": "download"})
    assert response.status_code == 200, response.text
    response.close()
    status = audited.teacher.htmx().get(
        f"/courses/{audited.course.id}/exports/{export_id_of(response.text)}/status").text
    link = status.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    report = sections(app.test_client().get(link).data)
    _header, *rows = report["Embed audit"]
    assert {r[7] for r in rows} == {"1_e2"}
    assert {r[0] for r in rows} == {"canvas.umn.edu", "umn.qualtrics.com", "Unknown"}


def test_audit_page_says_when_the_rules_file_is_broken(audited, app, monkeypatch, tmp_path):
    from lti_tool.embed_rules import RuleBook

    broken = tmp_path / "embed_domains.toml"
    broken.write_text('[[rule]]\nexact = "x.example"\ncategory = "lms_pages"\n')
    monkeypatch.setitem(app.extensions, "embed_rules", RuleBook(broken, app.config["EMBED_HOSTS"]))
    html = audited().text
    assert "The embed rules file has an error" in html and "line 3: unknown category &#39;lms_pages&#39;" in html
