"""Who is making an export, and what happens to an export whose maker died.

A run of an export's job *claims* its row before it works on it: the row records the job's id and which
attempt of that job this is (`jobs.current_attempt()`: a retry is a later attempt). A queued export is
claimed by its first attempt; a running one by a later attempt of the same job, so the retry RQ makes
after a killed work horse takes over what the dead attempt left. Every later write of that run (notes,
the hand-over to the email job, the end) is conditional on still holding the row, so an attempt that
lost it (a zombie) changes nothing.

While it works, the run's heartbeat thread moves `alive_until` on (RQ only). An export that is silent past
it, and whose job RQ does not hold for a retry, is *reaped*: ended as failed with a reason, on read (the
status the page polls, a new request for the same report) and by every worker's maintenance
(`jobs.maintenance`). RQ's own failure callback (`job_failed`) ends it at once when the last attempt
raised, its work horse was killed or RQ found it abandoned.
"""
from __future__ import annotations

import logging
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import create_engine, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from lti_tool import jobs
from lti_tool.extensions import db
from lti_tool.models import Export
from lti_tool.models.exports import ACTIVE_STATES
from lti_tool.models.types import utcnow

log = logging.getLogger(__name__)

WORKER_STOPPED = "This report stopped without finishing: the worker making it stopped. Ask for it again."
NEVER_STARTED = ("This report was never started: its job was lost (the job service may have restarted). "
                 "Ask for it again.")
TIMED_OUT = "This report stopped without finishing (the server may have restarted). Ask for it again."
EMAIL_NOT_SENT = ("The report is ready, but the email was not sent: the worker sending it stopped. "
                  "Download it here instead.")
# RQ statuses of a job that has ended and will not run again.
ENDED = ("finished", "failed", "stopped", "canceled")


@dataclass(frozen=True)
class Holder:
    """One run of a job that holds an export row."""

    export_id: str
    job_id: str
    attempt: int


def _seconds(name: str) -> timedelta:
    return timedelta(seconds=current_app.config[name])


def _supervised() -> bool:
    """Heartbeats and the reaper's questions to RQ need RQ; in-process jobs have only the time limit."""
    return current_app.config["JOB_RUNNER"] == "rq"


def _held_by(holder: Holder):
    return (Export.id == holder.export_id, Export.job_id == holder.job_id, Export.attempt == holder.attempt)


def _update(*conditions, **values) -> bool:
    """One UPDATE of an export row in a transaction of its own; True when it matched the row."""
    db.session.rollback()
    result = db.session.execute(update(Export).where(*conditions).values(**values)
                                .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def claim(export_id: str, job_id: str, reason: str | None = None) -> Holder | None:
    """Take the export for this run of `job_id`, or None when it is not this run's to make (ended,
    removed, or held by this or a later attempt)."""
    attempt = jobs.current_attempt()
    now = utcnow()
    taken = _update(
        Export.id == export_id, Export.state.in_(ACTIVE_STATES), Export.attempt < attempt,
        or_(Export.job_id == job_id, Export.job_id.is_(None)),
        state="running", job_id=job_id, attempt=attempt, reason=reason, started_at=now,
        alive_until=now + _seconds("JOB_STALE_SECONDS") if _supervised() else None,
    )
    if taken and attempt > 1:
        log.warning("export %s: attempt %d of job %s takes it over", export_id, attempt, job_id)
    return Holder(export_id, job_id, attempt) if taken else None


def finish(export_id: str, state: str, reason: str | None = None, holder: Holder | None = None, **fields) -> bool:
    """End an active export (done or failed) in a transaction of its own; when `holder` is given, only if
    that run still holds it. True when this call ended it."""
    conditions = _held_by(holder) if holder else (Export.id == export_id,)
    return _update(*conditions, Export.state.in_(ACTIVE_STATES), state=state, reason=reason, active_key=None,
                   finished_at=utcnow(), alive_until=None, **fields)


def note(holder: Holder, reason: str, back_in: int = 0) -> bool:
    """Tell the person what the running export waits for; it is alive for `back_in` seconds more (a retry's
    wait) than a heartbeat would say."""
    alive = utcnow() + _seconds("JOB_STALE_SECONDS") + timedelta(seconds=back_in) if _supervised() else None
    return _update(*_held_by(holder), Export.state == "running", reason=reason, alive_until=alive)


def hand_over(holder: Holder, job_id: str, reason: str, **fields) -> Holder | None:
    """Pass the running export to another job (`job_id`, not started yet: attempt 0), with `fields` (the
    file this run made). The holder the other job's first run will be, or None if this run lost it."""
    alive = utcnow() + _seconds("JOB_STALE_SECONDS") if _supervised() else None
    if not _update(*_held_by(holder), Export.state == "running", job_id=job_id, attempt=0, reason=reason,
                   alive_until=alive, **fields):
        return None
    return Holder(holder.export_id, job_id, 0)


# -- the heartbeat ------------------------------------------------------------------------------------

@contextmanager
def heartbeat(holder: Holder):
    """While the block runs, a thread moves the row's `alive_until` on every JOB_HEARTBEAT_SECONDS, over a
    connection of its own (it never waits on the job's transaction). It stops at the end of the block, or
    when the row is no longer this run's."""
    if not _supervised():
        yield
        return
    config = current_app.config
    stop = threading.Event()
    thread = threading.Thread(
        target=_beat, name=f"heartbeat-{holder.export_id}", daemon=True,
        args=(config["SQLALCHEMY_DATABASE_URI"], holder, config["JOB_HEARTBEAT_SECONDS"],
              config["JOB_STALE_SECONDS"], stop))
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)


def _beat(url: str, holder: Holder, every: float, stale: float, stop: threading.Event) -> None:
    engine = create_engine(url, poolclass=NullPool)
    table = Export.__table__
    failing = False
    try:
        while not stop.wait(every):
            try:
                with engine.begin() as connection:
                    held = connection.execute(
                        update(table).where(table.c.id == holder.export_id, table.c.job_id == holder.job_id,
                                            table.c.attempt == holder.attempt, table.c.state == "running")
                        .values(alive_until=utcnow() + timedelta(seconds=stale))).rowcount
            except SQLAlchemyError as exc:
                if not failing:
                    log.warning("export %s: heartbeat not recorded (%s); trying again", holder.export_id, exc)
                failing = True
                continue
            failing = False
            if not held:
                return
    finally:
        engine.dispose()


# -- ending exports nobody is making any more --------------------------------------------------------------

def _deadline(export: Export) -> datetime:
    """When a queued or running export is certainly dead, whatever else is known (every time limit and
    retry wait passed)."""
    config = current_app.config
    waits = sum(config["JOB_RETRY_INTERVALS"])
    limit = config["JOB_TIMEOUTS"]["exports"] + config["JOB_TIMEOUTS"]["emails"] * jobs.attempts_allowed() + waits
    return (export.started_at or export.created_at) + timedelta(seconds=limit + 300)


def _rq_status(job_id: str) -> str | None | bool:
    """RQ's status of the job; None when RQ does not know it; False when Redis does not answer."""
    try:
        return jobs.job_status(job_id)
    except jobs.Unavailable:
        return False


def why_dead(export: Export, now: datetime) -> str | None:
    """The reason to end an active export as failed, or None while something may still make it."""
    if now >= _deadline(export):
        return TIMED_OUT
    if not _supervised():
        return None
    job_id = export.job_id or export.id
    if export.alive_until is not None and export.state == "running":
        if export.alive_until > now:
            return None
        # Silent: its run died. Only a retry waiting in RQ (which will take it over) keeps it.
        if _rq_status(job_id) in jobs.WAITING:
            return None
        return EMAIL_NOT_SENT if export.file_path else WORKER_STOPPED
    if export.state == "queued" and export.created_at < now - _seconds("JOB_STALE_SECONDS"):
        status = _rq_status(job_id)
        if status is None or status in ENDED:
            return NEVER_STARTED
    return None


def reap(export: Export) -> bool:
    """End `export` as failed, with the reason, when nobody is making it any more; True if this call did."""
    if not export.active:
        return False
    reason = why_dead(export, utcnow())
    if reason is None:
        return False
    ended = finish(export.id, "failed", reason, holder=Holder(export.id, export.job_id, export.attempt)
                   if export.job_id else None)
    if ended:
        log.warning("export %s ended as failed: %s", export.id, reason)
        if reason != EMAIL_NOT_SENT:
            _remove_files(export.id)
    db.session.refresh(export)
    return ended


def reap_stale_exports(limit: int = 500) -> int:
    """Reap every active export that may be dead (silent, or queued for a while); how many were ended."""
    now = utcnow()
    candidates = db.session.scalars(
        select(Export).where(Export.state.in_(ACTIVE_STATES),
                             or_(Export.alive_until < now, Export.created_at < now - _seconds("JOB_STALE_SECONDS")))
        .order_by(Export.created_at).limit(limit)).all()
    return sum(reap(export) for export in candidates)


def _remove_files(export_id: str) -> None:
    from .tasks import export_dir

    shutil.rmtree(export_dir() / export_id, ignore_errors=True)


# -- RQ's failure callback ------------------------------------------------------------------------------

def job_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """The failure callback of the export jobs: an attempt raised, its work horse was killed, or RQ found
    it abandoned (its worker died). With a retry to come the row says so (a job's own transient failure
    has said it already); after the last attempt the export ends as failed."""
    if not has_app_context():  # e.g. an `rq` command cleaned the registries: the reaper will see to it
        return
    from rq.exceptions import AbandonedJobError

    from lti_tool.jobs.worker import WorkHorseKilled

    export_id = job.args[0]
    attempt = max(1, jobs.attempts_allowed() - (job.retries_left or 0))
    # Whatever this attempt reached: held by it, or not yet claimed (it failed before claiming).
    conditions = (Export.id == export_id, Export.job_id == job.id, Export.attempt <= attempt,
                  Export.state.in_(ACTIVE_STATES))
    died = isinstance(exc_value, (WorkHorseKilled, AbandonedJobError))
    if job.retries_left:
        if isinstance(exc_value, jobs.TransientError):
            return
        wait = job.get_retry_interval()
        reason = ("The worker making this report stopped" if died else "Something went wrong") + \
            f"; trying again in {wait} s (attempt {attempt} of {jobs.attempts_allowed()} failed)."
        alive = utcnow() + _seconds("JOB_STALE_SECONDS") + timedelta(seconds=wait)
        _update(*conditions, reason=reason, alive_until=alive)
        return
    from .tasks import GENERIC_FAILURE

    emailing = job.id.endswith("-email")
    reason = (EMAIL_NOT_SENT if emailing else WORKER_STOPPED) if died else GENERIC_FAILURE
    if _update(*conditions, state="failed", reason=reason, active_key=None, finished_at=utcnow(), alive_until=None):
        log.warning("export %s ended as failed after %d attempts: %s", export_id, attempt, exc_value)
        if not emailing:
            _remove_files(export_id)
