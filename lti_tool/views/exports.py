"""Exports (owner, co-editor, admin): the Export toolbar and dialog of every page an export kind is
bound to (`exports.tasks.KINDS`, each with its `PageBinding`), the status that follows a job until it
ends, the person's recent exports, and the signed download link."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, g, render_template, send_file, url_for
from htmx_flask import request
from werkzeug.datastructures import MultiDict

from lti_tool.analytics import rooms

from lti_tool.exports import KINDS, AlreadyInProgress, ExportError, file_of, mask_email, start_export
from lti_tool.exports import links, mail
from lti_tool.exports.holder import reap
from lti_tool.exports.tasks import Kind, QueueUnavailable, linked_export, own_export, recent_exports
from lti_tool.exports.selection import page_args
from lti_tool.extensions import db
from lti_tool.launch.session import require
from lti_tool.models import Export, Room, RoomSession
from lti_tool.models.types import utcnow

from . import wants_fragment
from .dashboards import display_timezone

bp = Blueprint("exports", __name__)

RECENT = 50


def _kind_from(values) -> Kind:
    """The kind asked for, if it is offered and the viewer may open the page it is asked from."""
    spec = KINDS.get(values.get("kind", ""))
    if spec is None:
        abort(400, description="Choose what to export")
    if not g.viewer.can(spec.page.capability):
        abort(403)
    return spec


def _params(kind: Kind, values) -> dict:
    """The export's parameters from the page's arguments (request.args or the dialog's form)."""
    return kind.params(db.session, g.course, values, g.viewer, display_timezone(), utcnow())


def _own_export(export_id: str) -> Export:
    """The viewer's own export in this course; 404 for anyone else's."""
    export = own_export(db.session, export_id, g.course.id, g.viewer.session.person_id)
    if export is None:
        abort(404)
    return export


@bp.app_template_global()
def export_offer() -> dict | None:
    """What the Export toolbar of the current page offers: the kinds bound to its endpoint (None:
    nothing, e.g. for a student, or on a page without an emailed report)."""
    viewer, course = g.get("viewer"), g.get("course")
    if viewer is None or course is None or not viewer.can("exports"):
        return None
    offered = {kind.offer: kind for kind in KINDS.values()
               if kind.page.endpoint == request.endpoint and viewer.can(kind.page.capability)}
    dialog = offered.get("dialog")
    if dialog is None:
        return None
    page, fixed = dialog.page, dialog.fixed(request.view_args.get("external_id"))
    # Without htmx the link carries the filters the page was opened with.
    args = [(k, v) for k, v in request.args.items(multi=True) if k in page.args]
    href = url_for("exports.new", course_id=course.id, **fixed) + ("&" + urlencode(args) if args else "")
    download = offered.get("download")
    return {"fixed": fixed, "filters": page.filter_form, "href": href,
            "pdf": {**fixed, "kind": download.name, "delivery": "download"} if download else None,
            "custom": url_for("exports.custom_report", course_id=course.id, room=request.view_args.get("external_id"),
                              session=request.args.get("session"))
            if "window" in offered else None}


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
    if kind.offer != "dialog":
        abort(400, description="Only CSV reports are emailed")
    error = None
    try:
        _params(kind, request.args)
    except ExportError as exc:
        error = str(exc)
    email = g.viewer.session.person.email
    field = kind.page.subject_field
    fixed = kind.fixed(request.args.get(field) if field else None)
    context = {
        "kind": kind.name, "error": error, "masked": mask_email(email) if mail.is_configured() else None,
        "no_email": None if mail.is_configured() and mask_email(email) else (
            "This server does not send email." if not mail.is_configured() else
            "We have no email address for you (Canvas did not share it)."),
        "fixed": fixed, "args": page_args(request.args, kind.page.args),
    }
    template = "exports/_dialog.html" if wants_fragment("export-dialog") else "exports/new.html"
    return render_template(template, **context), 422 if error else 200


@bp.get("/courses/<int:course_id>/exports/custom")
@require("exports")
def custom_report(course_id: int):
    """The room page's "Custom report" window (exports/_custom_report.html)."""
    custom = KINDS["custom"]
    if not g.viewer.can(custom.page.capability):
        abort(403)
    template = "exports/_custom_report.html" if wants_fragment("custom-report") else "exports/custom.html"
    return render_template(template, **_custom_window(opened_on=_opened_on_session()))


def _opened_on_session() -> tuple[Room, RoomSession] | None:
    """The main session of the room page the window was opened from (its `room` and `session`
    arguments: the page's filter form), or None from a page over a date range or without a room."""
    room_id, session_id = request.args.get("room"), request.args.get("session")
    room = rooms.room_of_course(db.session, g.course.registration_id, g.course.id, room_id) if room_id else None
    chosen = rooms.main_session(db.session, room, session_id) if room is not None and session_id else None
    return (room, chosen) if chosen is not None else None


def _custom_window(error: str | None = None, opened_on: tuple[Room, RoomSession] | None = None) -> dict:
    """The window's context; opened from a session's page, it starts on that session: its local day, its
    room and the session itself (not the last 30 days of every room)."""
    from zoneinfo import ZoneInfo

    from lti_tool.exports import custom

    zone = ZoneInfo(display_timezone())
    today = utcnow().astimezone(zone).date()
    form = request.form if request.method == "POST" else None
    if opened_on is not None:
        room, chosen = opened_on
        day = chosen.started_at.astimezone(zone).date().isoformat()
        form = MultiDict({"timeframe": "custom", "from": day, "to": day, "entry_ids": room.external_id,
                          "cue_point_ids": chosen.external_id})
    return custom.window_context(url_for("exports.create", course_id=g.course.id), form=form, error=error,
                                 today=today, hidden={"kind": "custom", "delivery": "download"})


@bp.post("/courses/<int:course_id>/exports/")
@require("exports")
def create(course_id: int):
    """Start an export; answers with the notice and the status that follows it (for the custom report
    window, in place of the window; a refusal shows the window again with the reason)."""
    kind = _kind_from(request.form)
    delivery = request.form.get("delivery", "download")
    window = kind.offer == "window"
    notice = "exports/_custom_started.html" if window else "exports/_notice.html"
    already = False
    try:
        export = start_export(kind.name, course_id, g.viewer.session.person_id, _params(kind, request.form), delivery)
    except AlreadyInProgress as exc:
        export, already = exc.export, True
    except ExportError as exc:
        code = 503 if isinstance(exc, QueueUnavailable) else 422   # 503: recorded as failed, nothing queued
        if window:
            return render_template("exports/_custom_report.html", **_custom_window(str(exc))), code
        return render_template(notice, export=None, error=str(exc)), code
    return render_template(notice, export=export, already=already, error=None)


@bp.get("/courses/<int:course_id>/exports/<export_id>/status")
@require("exports")
def status(course_id: int, export_id: str):
    """The status partial, polled every 2 s while the export is queued or running."""
    export = _own_export(export_id)
    reap(export)   # ended as failed if nobody is making it any more
    if request.htmx and not request.htmx.boosted:
        return render_template("exports/_status.html", export=export)
    return index(course_id=course_id)


@bp.get("/courses/<int:course_id>/exports/")
@require("exports")
def index(course_id: int):
    """The viewer's recent exports in this course, newest first."""
    exports = recent_exports(db.session, course_id, g.viewer.session.person_id, RECENT)
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
    export, path = linked_export(db.session, export_id)
    if path is None:
        return _link_problem(410, "This file is no longer available",
                             "It has been removed. Open the tool from Canvas and export the report again.")
    response = send_file(path, as_attachment=True, download_name=export.file_name, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _link_problem(code: int, title: str, hint: str):
    return render_template("errors/error.html", code=code, title=title, hint=hint), code
