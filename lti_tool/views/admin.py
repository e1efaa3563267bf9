"""Account admins: every course of their tenant, the tool's settings for the registration, the
embed-domain rules in force (with a form that classifies one page URL), and the Kava beacon queue
(parked beacons with their reasons, and a way to send them back)."""
from __future__ import annotations

from datetime import datetime, timezone
from itertools import islice

import redis

from flask import Blueprint, current_app, g, render_template, request

from lti_tool.analytics.people import tenant_courses
from lti_tool.courses import update_tool_settings
from lti_tool.embed_rules import CATEGORIES, HOST_KEYS
from lti_tool.ingest import beacon_queue
from lti_tool.ingest.enrich import page_info
from lti_tool.extensions import db
from lti_tool.launch.session import require
from lti_tool.outages import redis_unavailable
from lti_tool.views import wants_fragment
from lti_tool.views.dashboards import render_block

bp = Blueprint("admin", __name__, url_prefix="/courses/<int:course_id>/admin")


@bp.get("/courses")
@require("tenant.courses")
def courses(course_id: int):
    search = request.args.get("q", "")[:100]
    rows = tenant_courses(db.session, g.viewer.session.registration_id, search)
    template = "admin/_course_table.html" if wants_fragment("course-table") else "admin/courses.html"
    return render_template(template, rows=rows, search=search)


@bp.route("/tool", methods=["GET", "POST"])
@require("tool.settings")
def tool(course_id: int):
    registration = g.viewer.session.registration
    errors, saved = {}, False
    if request.method == "POST":
        errors = update_tool_settings(registration, request.form)
        saved = not errors
    return render_template("admin/tool.html", registration=registration, errors=errors, saved=saved), (
        422 if errors else 200)


# What each placeholder of the rules file stands for, and the setting (environment variable) that sets it.
EMBED_HOST_SETTINGS = {
    "lms": ("LMS (Canvas)", "EMBED_LMS_HOSTS"),
    "other_lms": ("Other LMS (another Canvas of the institution)", "EMBED_OTHER_LMS_HOSTS"),
    "mediaspace": ("MediaSpace", "EMBED_MEDIASPACE_HOSTS"),
    "kaf": ("Kaltura in Canvas (KAF)", "EMBED_KAF_HOSTS"),
    "institution": ("Institution web domain", "EMBED_INSTITUTION_DOMAINS"),
}
MAX_TEST_URL_CHARS = 2000
# Parked beacons listed one by one on the beacon queue page (the counts cover them all).
PARKED_SHOWN = 50
# embed_rules.PAGE_KINDS in words: how far a page URL of the category leads to the page holding the embed.
PAGE_KIND_TEXT = {
    "open": "yes: the page URL opens the page (the viewer may still lack access to it)",
    "clues": "partly: the page URL cannot be opened, but its text names the folder and file",
    "hidden": "no: the URL names a host, not the survey, quiz, module or page holding the embed",
    "none": "no: there is no page to find",
}


@bp.get("/embed-rules")
@require("tool.settings")
def embed_rules(course_id: int):
    book = current_app.extensions["embed_rules"]
    rules = book.current()
    raw = request.args.get("url", "")
    test, status = _test_url(raw, rules)
    if wants_fragment("url-test"):
        return render_block("admin/embed_rules.html", "url_test", test=test, url=raw,
                            page_kinds=PAGE_KIND_TEXT), status
    return render_template("admin/embed_rules.html", book=book, rules=rules, test=test, url=raw,
                           hosts=[(key, *EMBED_HOST_SETTINGS[key], book.hosts.get(key, ())) for key in HOST_KEYS],
                           categories=CATEGORIES.values(), page_kinds=PAGE_KIND_TEXT,
                           changed_at=_changed_at(book)), status


def _changed_at(book) -> datetime | None:
    """When the rules file was last changed (UTC), None when it cannot be read."""
    try:
        return datetime.fromtimestamp(book.path.stat().st_mtime, timezone.utc)
    except OSError:
        return None


def _test_url(raw: str, rules) -> tuple[dict | None, int]:
    """The classification of a page URL typed into the form; an error message (422) when it cannot be read."""
    raw = raw.strip()
    if not raw:
        return None, 200
    if len(raw) > MAX_TEST_URL_CHARS:
        return {"error": f"That URL is longer than {MAX_TEST_URL_CHARS} characters. Paste a single page URL."}, 422
    info = page_info(raw)
    if info.url is None:
        return {"error": "That is not a page URL the tool can read. Paste a URL such as "
                         "https://canvas.example.edu/courses/1/pages/x or a local path such as "
                         "file:///C:/Users/name/page.html (plain, URI-encoded or base64)."}, 422
    return {"info": info, "result": rules.classify(info.domain)}, 200


@bp.route("/beacon-queue", methods=["GET", "POST"])
@require("tool.settings")
def beacon_queue_page(course_id: int):
    """The queue (whole server) and this registration's parked beacons; POST sends them back (`kind`: one kind)."""
    registration_id = g.viewer.session.registration_id
    if not current_app.config.get("REDIS_URL"):
        return render_template("admin/beacon_queue.html", state=None, queued=False, unreachable=False)
    sent, status = None, 200
    try:
        if request.method == "POST":
            kind = request.form.get("kind") or None
            if kind is not None and kind not in beacon_queue.KINDS:
                status = 422
            else:
                sent = beacon_queue.requeue(registration_id=registration_id, kind=kind)
        state = beacon_queue.state(registration_id)
        recent = list(islice(beacon_queue.parked(registration_id=registration_id), PARKED_SHOWN))
    except redis.RedisError as exc:
        if not redis_unavailable(exc):
            raise
        return render_template("admin/beacon_queue.html", state=None, queued=beacon_queue.enabled(),
                               unreachable=True), 503
    return render_template("admin/beacon_queue.html", state=state, recent=recent, kinds=beacon_queue.KINDS,
                           queued=beacon_queue.enabled(), unreachable=False, sent=sent,
                           bad_kind=status == 422, shards=beacon_queue.SHARDS), status
