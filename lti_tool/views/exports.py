"""Exports (owner, co-editor, admin): the Export dialog of the room and gallery pages, the status
that follows a job until it ends, the person's recent exports, and the signed download link."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, g, render_template, request, send_file, url_for
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from lti_tool.exports import KINDS, AlreadyInProgress, ExportError, file_of, mask_email, start_export
from lti_tool.exports import links, mail
from lti_tool.exports.holder import reap
from lti_tool.exports.tasks import QueueUnavailable
from lti_tool.exports.selection import FILTER_ARGS, ROOM_ARGS, gallery_params, page_args, room_params
from lti_tool.extensions import db
from lti_tool.launch.session import require
from lti_tool.models import Export
from lti_tool.models.types import utcnow

from . import wants_fragment
from .dashboards import display_timezone

bp = Blueprint("exports", __name__)

# The page each kind of export comes from: (the capability to open that page, its filter form).
PAGES = {"room": ("rooms", "#room-filters"), "gallery": ("gallery", "#filters"), "audit": ("domains", "#audit-filters"),
         "audit-mine": ("my", "#audit-filters")}
KIND_PAGES = {"room-csv": "room", "room-pdf": "room", "custom": "room", "gallery-csv": "gallery",
              "gallery-pdf": "gallery", "audit-csv": "audit",
              "audit-mine-csv": "audit-mine"}
# Arguments a page assumes when its URL leaves them out (the audit covers the last 12 months).
PAGE_DEFAULTS = {"audit": {"range": "last12m"}, "audit-mine": {"range": "last12m"}}
RECENT = 50


def _kind_from(values) -> str:
    kind = values.get("kind", "")
    spec = KINDS.get(kind)
    if spec is None or not spec.available or kind not in KIND_PAGES:
        abort(400, description="Choose what to export")
    if not g.viewer.can(PAGES[KIND_PAGES[kind]][0]):
        abort(403)
    return kind


def _params(kind: str, values) -> dict:
    """The export's parameters from the page's arguments (request.args or the dialog's form)."""
    now = utcnow()
    if kind == "custom":
        from lti_tool.exports.custom import form_request

        names, params = form_request(values)
        return {"reports": names, "tz": display_timezone(), **params}
    if KIND_PAGES[kind] == "room":
        params = room_params(db.session, g.course, values.get("room", ""), values, display_timezone(), now)
    else:
        values = MultiDict(values)
        for key, value in PAGE_DEFAULTS.get(KIND_PAGES[kind], {}).items():
            values.setdefault(key, value)
        params = gallery_params(db.session, g.course, values, display_timezone(), now)
        if kind == "gallery-csv" and values.get("events") == "1":
            params["events"] = True
    if kind.endswith("-csv"):
        params["headers"] = "descriptive" if values.get("headers") == "descriptive" else "raw"
    return params


def _own_export(export_id: str) -> Export:
    """The viewer's own export in this course; 404 for anyone else's."""
    export = db.session.get(Export, export_id[:40])
    if export is None or export.course_id != g.course.id or export.person_id != g.viewer.session.person_id:
        abort(404)
    return export


@bp.app_template_global()
def export_offer() -> dict | None:
    """What the Export toolbar of the current page offers (None: nothing, e.g. for a student)."""
    viewer, course = g.get("viewer"), g.get("course")
    if viewer is None or course is None or not viewer.can("exports"):
        return None
    page = {"rooms.page": "room", "gallery.page": "gallery", "embeds.audit": "audit",
            "embeds.mine": "audit-mine"}.get(request.endpoint or "")
    if page is None or not viewer.can(PAGES[page][0]):
        return None
    fixed = {"kind": f"{page}-csv"}
    if page == "room":
        fixed["room"] = request.view_args["external_id"]
    pdf = KINDS.get(f"{page}-pdf")
    custom = page == "room" and KINDS["custom"].available
    # Without htmx the link carries the filters the page was opened with.
    args = [(k, v) for k, v in request.args.items(multi=True) if k in (ROOM_ARGS if page == "room" else FILTER_ARGS)]
    href = url_for("exports.new", course_id=course.id, **fixed) + ("&" + urlencode(args) if args else "")
    return {"fixed": fixed, "filters": PAGES[page][1], "href": href,
            "pdf": {**fixed, "kind": pdf.name, "delivery": "download"} if pdf and pdf.available else None,
            "custom": url_for("exports.custom_report", course_id=course.id) if custom else None}


@bp.app_template_global()
def export_link(export: Export) -> str | None:
    """The signed download link of a finished export's file (None while there is none)."""
    if file_of(export) is None:
        return None
    return links.download_url(export.id, request.url_root)


@bp.app_template_global()
def export_kind_label(kind: str) -> str:
    spec = KINDS.get(kind)
    return spec.label if spec else kind


@bp.get("/courses/<int:course_id>/exports/new")
@require("exports")
def new(course_id: int):
    """The confirmation dialog ("Export report to email") for the page's current filters."""
    kind = _kind_from(request.args)
    if not kind.endswith("-csv"):
        abort(400, description="Only CSV reports are emailed")
    error = None
    try:
        _params(kind, request.args)
    except ExportError as exc:
        error = str(exc)
    email = g.viewer.session.person.email
    context = {
        "kind": kind, "error": error, "masked": mask_email(email) if mail.is_configured() else None,
        "no_email": None if mail.is_configured() and mask_email(email) else (
            "This server does not send email." if not mail.is_configured() else
            "We have no email address for you (Canvas did not share it)."),
        "fixed": {"kind": kind, **({"room": request.args.get("room", "")} if KIND_PAGES[kind] == "room" else {})},
        "args": page_args(request.args, ROOM_ARGS if KIND_PAGES[kind] == "room" else FILTER_ARGS),
    }
    template = "exports/_dialog.html" if wants_fragment("export-dialog") else "exports/new.html"
    return render_template(template, **context), 422 if error else 200


@bp.get("/courses/<int:course_id>/exports/custom")
@require("exports")
def custom_report(course_id: int):
    """The room page's "Custom report" window (exports/_custom_report.html)."""
    if not (KINDS["custom"].available and g.viewer.can("rooms")):
        abort(403 if KINDS["custom"].available else 404)
    template = "exports/_custom_report.html" if wants_fragment("custom-report") else "exports/custom.html"
    return render_template(template, **_custom_window())


def _custom_window(error: str | None = None) -> dict:
    from zoneinfo import ZoneInfo

    from lti_tool.exports import custom

    today = utcnow().astimezone(ZoneInfo(display_timezone())).date()
    form = request.form if request.method == "POST" else None
    return custom.window_context(url_for("exports.create", course_id=g.course.id), form=form, error=error,
                                 today=today, hidden={"kind": "custom", "delivery": "download"})


@bp.post("/courses/<int:course_id>/exports/")
@require("exports")
def create(course_id: int):
    """Start an export; answers with the notice and the status that follows it (for the custom report
    window, in place of the window; a refusal shows the window again with the reason)."""
    kind = _kind_from(request.form)
    delivery = request.form.get("delivery", "download")
    notice = "exports/_custom_started.html" if kind == "custom" else "exports/_notice.html"
    already = False
    try:
        export = start_export(kind, course_id, g.viewer.session.person_id, _params(kind, request.form), delivery)
    except AlreadyInProgress as exc:
        export, already = exc.export, True
    except ExportError as exc:
        code = 503 if isinstance(exc, QueueUnavailable) else 422   # 503: recorded as failed, nothing queued
        if kind == "custom":
            return render_template("exports/_custom_report.html", **_custom_window(str(exc))), code
        return render_template(notice, export=None, error=str(exc)), code
    return render_template(notice, export=export, already=already, error=None)


@bp.get("/courses/<int:course_id>/exports/<export_id>/status")
@require("exports")
def status(course_id: int, export_id: str):
    """The status partial, polled every 2 s while the export is queued or running."""
    export = _own_export(export_id)
    reap(export)   # ended as failed if nobody is making it any more
    if request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true":
        return render_template("exports/_status.html", export=export)
    return index(course_id=course_id)


@bp.get("/courses/<int:course_id>/exports/")
@require("exports")
def index(course_id: int):
    """The viewer's recent exports in this course, newest first."""
    exports = db.session.scalars(
        select(Export).where(Export.person_id == g.viewer.session.person_id, Export.course_id == course_id)
        .order_by(Export.created_at.desc()).limit(RECENT)).all()
    return render_template("exports/index.html", exports=exports, title="My exports", days=links_days())


def links_days() -> int:
    return current_app.config["EXPORT_LINK_MAX_AGE"] // 86400


@bp.get("/exports/download/<token>")
def download(token: str):
    """The file behind a signed link. The link is the capability (it is opened from an email,
    without a session): no session is needed, and the token is never logged."""
    try:
        export_id = links.verify(token[:1000])
    except links.LinkExpired:
        return _link_problem(410, "This download link has expired",
                             f"Links work for {links_days()} days. Open the tool from Canvas and export the "
                             "report again to get a new one.")
    except links.LinkInvalid:
        return _link_problem(403, "This download link is not valid",
                             "The address may be incomplete or changed. Use the link from the email exactly as "
                             "it is, or export the report again from the tool.")
    export = db.session.get(Export, export_id)
    path = file_of(export) if export is not None else None
    if path is None:
        return _link_problem(410, "This file is no longer available",
                             "It has been removed. Open the tool from Canvas and export the report again.")
    response = send_file(path, as_attachment=True, download_name=export.file_name, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _link_problem(code: int, title: str, hint: str):
    return render_template("errors/error.html", code=code, title=title, hint=hint), code
