"""Asking for an export, and the jobs that make and email it.

`start_export()` checks the request, records an `Export` row and enqueues `run_export` (queue
"exports", job id = the row's id). `run_export` writes the file under EXPORT_DIR; for an emailed
export it then enqueues `email_export` (queue "emails"), whose transient failures are retried with
backoff while the row says so. Both jobs take the id only, reload what they need, and leave the row
terminal (done or failed, with a reason a person can read) on every path they live to see; a run that
dies (its process killed, its worker gone) is taken over by its retry or ended by the reaper
(`holder.py`: claims, heartbeats, the reaper).
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from flask import current_app, has_request_context, render_template, request
from rq.timeouts import JobTimeoutException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from lti_tool import jobs
from lti_tool.analytics import rooms
from lti_tool.analytics.context import Context, Subject, entry_subject
from lti_tool.analytics.dashboard import AUDIT_DEFAULTS
from lti_tool.analytics.scopes import owns_or_coedits
from lti_tool.extensions import db
from lti_tool.models import Course, Export, Person, find_entry
from lti_tool.models.types import utcnow

from . import holder, links, mail
from .selection import (FILTER_ARGS, ROOM_ARGS, ExportError, PageBinding, gallery_context, room_selection,
                        subject_context)

if TYPE_CHECKING:
    from lti_tool.launch.session import Viewer

log = logging.getLogger(__name__)

GENERIC_FAILURE = ("Something went wrong on our side while making this report. Try again; if it keeps "
                   "happening, tell your administrator.")
HEADERS = ("descriptive", "raw")


class AlreadyInProgress(Exception):
    """The same export (same person, course, kind, delivery and parameters) is queued or running."""

    def __init__(self, export: Export) -> None:
        super().__init__("this export is already in progress")
        self.export = export


def _no_form(values: MultiDict, tz: str) -> dict:
    return {}


@dataclass(frozen=True)
class Kind:
    """One kind of export: what it is called, the page it is asked from, how it is checked and built."""

    name: str
    label: str
    # (session, course, params) -> the params to store: checked, normalised; ExportError when unusable.
    check: Callable[[Session, Course, dict], dict]
    # (session, export, course, directory) -> the file written in directory.
    build: Callable[[Session, Export, Course, Path], Path]
    page: PageBinding                       # the page whose Export toolbar offers it
    # How the toolbar offers it: "dialog" (the Export dialog: emailed or downloaded), "download" (a button
    # that downloads it for the page as it is), "window" (the Custom report window, whose own form
    # takes the place of the page's filters).
    offer: str = "dialog"
    # (the dialog's or window's form, the viewer's time zone) -> the kind's own fields (headers, events, ...).
    form: Callable[[MultiDict, str], dict] = _no_form

    def params(self, session: Session, course: Course, values: MultiDict, viewer: Viewer, tz: str,
               now: datetime) -> dict:
        """The parameters to ask for, from the page's request (request.args, or the dialog's form)."""
        own = self.form(values, tz)
        if self.offer == "window":
            return own
        return {**self.page.params(session, course, values, viewer, tz, now), **own}

    def fixed(self, subject_id: str | None) -> dict:
        """The fields the toolbar and the dialog send unchanged: the kind, and the page's subject."""
        field = self.page.subject_field
        return {"kind": self.name, **({field: subject_id or ""} if field else {})}


def _slug(text: str, limit: int = 60) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:limit].strip("-") or "report"


def _span(first, last) -> str:
    return first.isoformat() if first == last else f"{first.isoformat()}_{last.isoformat()}"


def _headers_flag(params: dict) -> dict:
    if params.get("headers", "descriptive") not in HEADERS:
        raise ExportError("headers must be descriptive or raw")
    return {"headers": params.get("headers", "descriptive")}


# -- room and gallery reports -------------------------------------------------------------------------

def _check_room(session: Session, course: Course, params: dict) -> dict:
    room_selection(session, course, params, utcnow())
    return params


def _room_file_stem(selection) -> str:
    when = (selection.chosen.started_at.date() if selection.chosen is not None else None)
    days = when.isoformat() if when else _span(selection.period.first_day, selection.period.last_day)
    return f"room-{_slug(selection.room.name or selection.room.external_id)}-{days}"


def _build_room_csv(session: Session, export: Export, course: Course, directory: Path) -> Path:
    from .csv_export import room_sections, write_csv

    selection = room_selection(session, course, export.params, export.created_at)
    path = directory / (_room_file_stem(selection) + ".csv")
    title = [("Room", selection.room.name or selection.room.external_id),
             ("Session", selection.chosen.name or selection.chosen.external_id) if selection.chosen else
             ("Sessions that started", f"{selection.period.first_day} to {selection.period.last_day}"),
             ("Time zone", selection.timezone)]
    write_csv(path, room_sections(session, selection), selection.timezone,
              export.params.get("headers", "descriptive") == "descriptive", preamble=title)
    return path


def _gallery_file_stem(course: Course, ctx) -> str:
    return f"media-gallery-{_slug(course.label or course.title)}-{_span(ctx.period.first_day, ctx.period.last_day)}"


def _check_gallery(session: Session, course: Course, params: dict) -> dict:
    gallery_context(session, course, params)
    return params


def _build_gallery_csv(session: Session, export: Export, course: Course, directory: Path) -> Path:
    from .csv_export import gallery_sections, write_csv

    ctx = gallery_context(session, course, export.params)
    path = directory / f"{_gallery_file_stem(course, ctx)}.csv"
    title = [("Media Gallery", course.title or course.label),
             ("Dates", f"{ctx.period.first_day} to {ctx.period.last_day}"), ("Time zone", ctx.timezone)]
    write_csv(path, gallery_sections(ctx, include_events=bool(export.params.get("events"))), ctx.timezone,
              export.params.get("headers", "descriptive") == "descriptive", preamble=title)
    return path


def _build_audit_csv(session: Session, export: Export, course: Course, directory: Path) -> Path:
    from lti_tool.analytics import embeds

    from .csv_export import audit_sections, write_csv

    ctx = gallery_context(session, course, export.params)
    scope, subject = ctx.scope, ("Embed audit", course.title or course.label)
    if export.kind == "audit-mine-csv":   # the person's own media, across courses
        from lti_tool.analytics.scopes import owner_scope

        person = session.get(Person, export.person_id)
        scope = owner_scope(session, course.registration_id, export.person_id, ctx.filters, ctx.period)
        subject = ("Embed audit of the media of", person.display_name)
    audit = embeds.audit(session, scope, ctx.rules)
    stem = "my-embed-audit" if export.kind == "audit-mine-csv" else f"embed-audit-{_slug(course.label or course.title)}"
    path = directory / f"{stem}-{_span(ctx.period.first_day, ctx.period.last_day)}.csv"
    chosen = ", ".join("Unknown" if key == embeds.UNKNOWN_DOMAIN else key for key in audit.selected) or "none"
    title = [subject,
             ("Dates", f"{ctx.period.first_day} to {ctx.period.last_day}"), ("Time zone", ctx.timezone),
             ("Domains", chosen + (" (those that need action)" if audit.default_selection else ""))]
    write_csv(path, audit_sections(audit), ctx.timezone,
              export.params.get("headers", "descriptive") == "descriptive", preamble=title)
    return path


def _build_room_pdf(session: Session, export: Export, course: Course, directory: Path) -> Path:
    from .pdf import room_summary_pdf

    selection = room_selection(session, course, export.params, export.created_at)
    scope = selection.scope
    content = room_summary_pdf(session, selection.room.id, selection.chosen.id if selection.chosen else None,
                               scope.start, scope.end, selection.timezone)
    path = directory / (_room_file_stem(selection) + ".pdf")
    path.write_bytes(content)
    return path


def _build_gallery_pdf(session: Session, export: Export, course: Course, directory: Path) -> Path:
    from .pdf import gallery_summary_pdf

    ctx = gallery_context(session, course, export.params)
    args = {k: v for k, v in export.params["args"].items() if k != "preset"}
    content = gallery_summary_pdf(session, course.id, args, ctx.timezone)
    path = directory / f"{_gallery_file_stem(course, ctx)}.pdf"
    path.write_bytes(content)
    return path


# -- the single-media page ----------------------------------------------------------------------------

def _entry_subject(session: Session, course: Course, values: MultiDict, viewer: Viewer) -> Subject:
    """The page's entry, when this viewer may open its page (`context.entry_subject`, the page's own rule)."""
    try:
        return entry_subject(session, course, values.get("entry", ""), viewer)
    except (LookupError, PermissionError) as exc:
        raise ExportError(str(exc)) from exc


def _entry_context(session: Session, course: Course, params: dict, person_id: int | None) -> Context:
    """The single-media page's Context for the frozen parameters, as the person who asked sees it."""
    entry = find_entry(session, course.registration_id, str(params.get("entry") or "")[:255])
    if entry is None:
        raise ExportError("there is no such media")
    every_viewer = person_id is not None and owns_or_coedits(session, entry, person_id)
    return subject_context(session, Subject.of_entry(entry, course, every_viewer), params)


def _check_entry(session: Session, course: Course, params: dict) -> dict:
    _entry_context(session, course, params, None)
    return params


def _build_entry_csv(session: Session, export: Export, course: Course, directory: Path) -> Path:
    from lti_tool.analytics.dashboard import ENTRY_BLOCKS

    from .csv_export import page_sections, write_csv

    ctx = _entry_context(session, course, export.params, export.person_id)
    entry = ctx.subject.entry
    path = directory / f"media-{_slug(entry.display_name)}-{_span(ctx.period.first_day, ctx.period.last_day)}.csv"
    title = [("Media", entry.display_name), ("Entry id", entry.external_id),
             ("Dates", f"{ctx.period.first_day} to {ctx.period.last_day}"), ("Time zone", ctx.timezone)]
    write_csv(path, page_sections(ENTRY_BLOCKS, ctx), ctx.timezone, export.params.get("headers", "descriptive") == "descriptive",
              preamble=title)
    return path


def _build_entry_pdf(session: Session, export: Export, course: Course, directory: Path) -> Path:
    from .pdf import entry_summary_pdf

    ctx = _entry_context(session, course, export.params, export.person_id)
    entry = ctx.subject.entry
    path = directory / f"media-{_slug(entry.display_name)}-{_span(ctx.period.first_day, ctx.period.last_day)}.pdf"
    path.write_bytes(entry_summary_pdf(ctx))
    return path


# -- custom room reports (lti_tool.exports.custom: the "Custom report" window) ---------------------------

def _check_custom(session: Session, course: Course, params: dict) -> dict:
    """{"reports": [names], **the window's fields} checked by the custom reports' own rules."""
    from . import custom

    options = {k: v for k, v in params.items() if k != "reports"}
    try:
        names = custom.report_names(params.get("reports") or [])
        custom.selection(course.registration_id, course.id, names, options)
    except ValueError as exc:
        raise ExportError(str(exc)) from exc
    return {"reports": names, **options}


def _build_custom(session: Session, export: Export, course: Course, directory: Path) -> Path:
    """One CSV, or a zip of several; the timeframe is the one meant when the export was asked for."""
    from . import custom

    options = {k: v for k, v in export.params.items() if k not in ("reports", "base_url")}
    try:
        files = custom.write_reports(session, course.registration_id, course.id, export.params["reports"], options,
                                     directory, now=export.created_at)
    except ValueError as exc:
        raise ExportError(str(exc)) from exc
    if len(files) == 1:
        return files[0]
    bundle = directory / f"custom-reports-{_slug(course.label or course.title)}.zip"
    with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, arcname=file.name)
    for file in files:
        file.unlink()
    return bundle


def _csv_check(check):
    def checked(session, course, params):
        return {**check(session, course, params), **_headers_flag(params)}
    return checked


def _csv_form(values: MultiDict, tz: str) -> dict:
    """The Export dialog's choice of column names: descriptive, or raw (the default)."""
    return {"headers": "descriptive" if values.get("headers") == "descriptive" else "raw"}


def _gallery_csv_form(values: MultiDict, tz: str) -> dict:
    """The gallery dialog also offers every player event, one row each."""
    return {**_csv_form(values, tz), **({"events": True} if values.get("events") == "1" else {})}


def _custom_form(values: MultiDict, tz: str) -> dict:
    """The Custom report window's reports and fields (checked by `_check_custom`)."""
    from .custom import form_request

    names, params = form_request(values)
    return {"reports": names, "tz": tz, **params}


# -- the pages kinds are asked from ------------------------------------------------------------------

def _course_subject(session: Session, course: Course, values: MultiDict, viewer: Viewer) -> Subject:
    return Subject.of_course(course)


def _room_subject(session: Session, course: Course, values: MultiDict, viewer: Viewer) -> Subject:
    """The room page's room and its chosen main session (none: every session in the period)."""
    external_id = values.get("room", "")
    room = rooms.room_of_course(session, course.registration_id, course.id, external_id) if external_id else None
    if room is None:
        raise ExportError("this course has no such room")
    asked = next((value for value in values.getlist("session") if value), None)
    chosen = rooms.main_session(session, room, asked) if asked else None
    if asked and chosen is None:
        raise ExportError("this room has no such session")
    return Subject.of_room(room, chosen, course)


GALLERY_PAGE = PageBinding("gallery.page", "gallery", "#filters", FILTER_ARGS, _course_subject)
ROOM_PAGE = PageBinding("rooms.page", "rooms", "#room-filters", ROOM_ARGS, _room_subject, subject_field="room")
# The embed audit covers the last 12 months unless its URL says otherwise (dashboard.AUDIT_DEFAULTS).
AUDIT_PAGE = PageBinding("embeds.audit", "domains", "#audit-filters", FILTER_ARGS, _course_subject,
                         defaults=AUDIT_DEFAULTS)
AUDIT_MINE_PAGE = replace(AUDIT_PAGE, endpoint="embeds.mine", capability="my")
ENTRY_PAGE = PageBinding("entry.page", "my", "#filters", FILTER_ARGS, _entry_subject, subject_field="entry")

KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("room-csv", "Room report (CSV)", _csv_check(_check_room), _build_room_csv, ROOM_PAGE, form=_csv_form),
    Kind("gallery-csv", "Media Gallery report (CSV)", _csv_check(_check_gallery), _build_gallery_csv, GALLERY_PAGE,
         form=_gallery_csv_form),
    Kind("audit-csv", "Embed audit (CSV)", _csv_check(_check_gallery), _build_audit_csv, AUDIT_PAGE, form=_csv_form),
    Kind("audit-mine-csv", "Embed audit of my media (CSV)", _csv_check(_check_gallery), _build_audit_csv,
         AUDIT_MINE_PAGE, form=_csv_form),
    Kind("entry-csv", "Single media report (CSV)", _csv_check(_check_entry), _build_entry_csv, ENTRY_PAGE,
         form=_csv_form),
    Kind("room-pdf", "Room session summary (PDF)", _check_room, _build_room_pdf, ROOM_PAGE, offer="download"),
    Kind("gallery-pdf", "Media Gallery summary (PDF)", _check_gallery, _build_gallery_pdf, GALLERY_PAGE,
         offer="download"),
    Kind("entry-pdf", "Single media summary (PDF)", _check_entry, _build_entry_pdf, ENTRY_PAGE, offer="download"),
    Kind("custom", "Custom room reports", _check_custom, _build_custom, ROOM_PAGE, offer="window", form=_custom_form),
)}


# -- asking for an export -------------------------------------------------------------------------------

def export_dir() -> Path:
    configured = current_app.config.get("EXPORT_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "exports"


def file_of(export: Export) -> Path | None:
    """The export's file on disk, or None when it has none (not made yet, failed, or removed)."""
    if not export.file_path:
        return None
    root = export_dir().resolve()
    path = (root / export.file_path).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path


def linked_export(session: Session, export_id: str) -> tuple[Export | None, Path | None]:
    """The export a signed download link names, and its file (None when either is gone)."""
    export = session.get(Export, export_id[:40])
    return export, (file_of(export) if export is not None else None)


def own_export(session: Session, export_id: str, course_id: int, person_id: int) -> Export | None:
    """The person's own export in this course (None for an unknown id or anyone else's)."""
    export = session.get(Export, export_id[:40])
    if export is None or export.course_id != course_id or export.person_id != person_id:
        return None
    return export


def recent_exports(session: Session, course_id: int, person_id: int, limit: int) -> list[Export]:
    """The person's latest `limit` exports in this course, newest first."""
    return list(session.scalars(select(Export).where(Export.person_id == person_id, Export.course_id == course_id)
                                .order_by(Export.created_at.desc()).limit(limit)))


def _active_key(kind: str, course_id: int, person_id: int, delivery: str, params: dict) -> str:
    raw = json.dumps([kind, course_id, person_id, delivery, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


class QueueUnavailable(ExportError):
    """The export was recorded but its job could not be queued (Redis does not answer); it is failed."""


def start_export(kind: str, course_id: int, person_id: int, params: dict, delivery: str = "download") -> Export:
    """Record and enqueue an export. ExportError when it cannot be made (the message says why; a
    QueueUnavailable when the job service does not answer); AlreadyInProgress when the same one is
    queued or running (and alive: one whose job died is ended first, see `holder.reap`)."""
    spec = KINDS.get(kind)
    if spec is None:
        raise ExportError("this kind of export is not offered")
    if delivery not in ("download", "email"):
        raise ExportError("delivery must be download or email")
    course, person = db.session.get(Course, course_id), db.session.get(Person, person_id)
    if course is None or person is None or person.registration_id != course.registration_id:
        raise ExportError("unknown course or person")
    if delivery == "email":
        if not mail.is_configured():
            raise ExportError("this server sends no email; download the report instead")
        if not mail.mask_email(person.email):
            raise ExportError("we have no email address for you; download the report instead")
    params = spec.check(db.session, course, dict(params))
    key = _active_key(kind, course_id, person_id, delivery, params)
    existing = db.session.scalar(select(Export).where(Export.active_key == key))
    if existing is not None and not holder.reap(existing):
        raise AlreadyInProgress(existing)
    stored = {**params, "base_url": _base_url()}
    export_id = uuid.uuid4().hex
    export = Export(id=export_id, registration_id=course.registration_id, course_id=course_id,
                    person_id=person_id, kind=kind, params=stored, delivery=delivery, active_key=key,
                    state="queued", job_id=export_id, emailed_to=mail.mask_email(person.email) if delivery == "email" else None)
    db.session.add(export)
    try:
        db.session.commit()
    except IntegrityError:  # an identical request won the race
        db.session.rollback()
        raise AlreadyInProgress(db.session.scalar(select(Export).where(Export.active_key == key))) from None
    try:
        jobs.enqueue(run_export, export.id, queue="exports", job_id=export.id, on_failure=holder.job_failed)
    except Exception as exc:
        unavailable = isinstance(exc, jobs.Unavailable)
        log.log(logging.WARNING if unavailable else logging.ERROR, "could not enqueue export %s", export.id,
                exc_info=not unavailable)
        holder.finish(export.id, "failed", f"The report could not be queued: {exc}.")
        if unavailable:
            raise QueueUnavailable(str(exc)) from exc
        raise
    return export


def _base_url() -> str | None:
    configured = current_app.config.get("PUBLIC_BASE_URL")
    if configured:
        return configured.rstrip("/") + "/"
    return request.url_root if has_request_context() else None


# -- the jobs ---------------------------------------------------------------------------------------

def run_export(export_id: str) -> None:
    """Job (queue "exports"): write the export's file, then email it or leave it for download."""
    held = holder.claim(export_id, export_id)
    if held is None:
        return  # removed, ended, or another run holds it (a duplicate delivery)
    # Each attempt writes in a directory of its own: a dead attempt's file never mixes in.
    directory = export_dir() / export_id / str(held.attempt)
    outcome: tuple[str, str | None] | None = ("failed", GENERIC_FAILURE)
    file: dict = {}
    with holder.heartbeat(held):
        try:
            export = db.session.get(Export, export_id)
            course = db.session.get(Course, export.course_id)
            shutil.rmtree(export_dir() / export_id, ignore_errors=True)  # what an earlier, dead attempt left
            directory.mkdir(parents=True, exist_ok=True)
            path = KINDS[export.kind].build(db.session, export, course, directory)
            file = {"file_name": path.name, "file_size": path.stat().st_size,
                    "file_path": path.relative_to(export_dir()).as_posix()}
            if export.delivery == "email":
                outcome = None  # the email job ends it
                _email(held, file)
            else:
                outcome = ("done", None)
        except ExportError as exc:
            outcome = ("failed", f"This report cannot be made: {exc}.")
        except JobTimeoutException:
            minutes = current_app.config["JOB_TIMEOUTS"]["exports"] // 60
            outcome = ("failed", f"This report took longer than {minutes} minutes and was stopped. "
                                 "Choose a shorter date range or fewer filters and try again.")
        except Exception:
            log.exception("export %s failed", export_id)
        finally:
            if outcome is not None:
                done = outcome[0] == "done"
                ended = holder.finish(export_id, *outcome, holder=held, **(file if done else {}))
                if not done or not ended:  # no half-written or orphaned file stays
                    shutil.rmtree(export_dir() / export_id if ended else directory, ignore_errors=True)


def _email(held: holder.Holder, file: dict) -> None:
    """Hand the export with its file to the email job; if that cannot be queued, it ends here."""
    email_job = f"{held.export_id}-email"
    handed = holder.hand_over(held, email_job, "Sending the email…", **file)
    if handed is None:
        return  # this run lost the export (a later attempt took it over)
    try:
        jobs.enqueue(email_export, held.export_id, queue="emails", job_id=email_job, on_failure=holder.job_failed)
    except jobs.Unavailable as exc:
        holder.finish(held.export_id, "failed", f"The report is ready, but the email could not be queued: {exc}. "
                                                "Download it here instead.", holder=handed)


def email_export(export_id: str) -> None:
    """Job (queue "emails"): email the download link. A mail server that does not answer is retried
    (JOB_RETRY_INTERVALS); the last attempt, or a refusal, fails the export with the reason."""
    held = holder.claim(export_id, f"{export_id}-email", reason="Sending the email…")
    if held is None:
        return
    attempts = jobs.attempts_allowed()
    outcome: tuple[str, str | None] | None = ("failed", GENERIC_FAILURE)
    try:
        export = db.session.get(Export, export_id)
        person = db.session.get(Person, export.person_id)
        address = person.email if person is not None else None
        if not address:
            outcome = ("failed", "The report is ready, but we no longer have an email address for you. "
                                 "Download it here instead.")
            return
        message = _message(export)
        # Nothing is held open while the mail server answers (it may take SMTP_TIMEOUT seconds).
        db.session.commit()
        db.session.close()
        try:
            with holder.heartbeat(held):
                mail.send(address, *message)
        except mail.MailUnavailable as exc:
            left = jobs.retries_left()
            if left > 0:
                wait = jobs.next_retry_in()
                holder.note(held, f"{_sentence(exc)}; trying again in {wait} s "
                                  f"(attempt {held.attempt} of {attempts} failed).", back_in=wait)
                outcome = None  # stays running: the retry ends it
                raise
            outcome = ("failed", f"The report is ready, but the email could not be sent: {exc}; we tried "
                                 f"{attempts} time{'s' if attempts != 1 else ''}. Download it here instead.")
            return
        except (mail.MailRefused, mail.MailNotConfigured) as exc:
            outcome = ("failed", f"The report is ready, but the email could not be sent: {exc}. "
                                 "Download it here instead.")
            return
        outcome = ("done", None)
    except mail.MailUnavailable:
        raise
    except ExportError as exc:
        outcome = ("failed", f"The report is ready, but the email could not be made: {exc}. Download it here instead.")
    except Exception:
        log.exception("emailing export %s failed", export_id)
    finally:
        if outcome is not None:
            holder.finish(export_id, *outcome, holder=held)


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:]


def _message(export: Export) -> tuple[str, str, str]:
    """(subject, text, html) of the email with the signed link."""
    course = db.session.get(Course, export.course_id)
    base = export.params.get("base_url") or current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        raise ExportError("the tool's address is unknown (set PUBLIC_BASE_URL)")
    url = links.download_url(export.id, base)
    expires = utcnow() + timedelta(seconds=current_app.config["EXPORT_LINK_MAX_AGE"])
    context = {"export": export, "kind": KINDS[export.kind], "course": course, "url": url, "expires": expires,
               "days": current_app.config["EXPORT_LINK_MAX_AGE"] // 86400}
    subject = f"Your report is ready: {KINDS[export.kind].label}, {course.title or course.label}"
    return (subject, render_template("exports/email/ready.txt", **context),
            render_template("exports/email/ready.html", **context))
