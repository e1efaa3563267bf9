"""Exports whose job died, was retried, or could not be queued (real Redis and RQ; the real-process fault
tests are tests/faults/test_export_faults.py): a retry takes its export over, an export nobody makes any
more ends as failed with the reason and can be asked for again, a run that lost its export changes
nothing, and an export that could not be queued says only that."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from rq.job import Job, JobStatus
from sqlalchemy import func, select

from lti_tool import jobs
from lti_tool.exports import holder
from lti_tool.models import Export
from lti_tool.models.types import utcnow

from ..support.outage import redis_down  # noqa: F401
from .conftest import export_id_of, polls


def died_while_making(db, app, export_id: str, attempt: int = 1, silent: bool = True) -> Export:
    """What attempt `attempt` leaves when its process is killed mid-export: the row it held and its file."""
    export = db.session.get(Export, export_id)
    now = utcnow()
    export.state, export.job_id, export.attempt, export.started_at = "running", export_id, attempt, now
    export.alive_until = now - timedelta(seconds=1) if silent else now + timedelta(seconds=60)
    db.session.commit()
    leftover = Path(app.config["EXPORT_DIR"]) / export_id / str(attempt) / "half-written.csv"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("Overview\n")
    return export


def rq_job(export_id: str) -> Job:
    return Job.fetch(export_id, connection=jobs.queue("exports").connection)


def test_a_retry_takes_over_the_export_its_killed_attempt_left(teacher, rq_mode, app, db):
    export_id = export_id_of(teacher.export().text)
    died_while_making(db, app, export_id, silent=False)
    with app.app_context():          # RQ retries the job, as the worker does when its work horse was killed
        job, queue = rq_job(export_id), jobs.queue("exports")
        queue.remove(job)
        with queue.connection.pipeline() as pipeline:
            job.retry(queue, pipeline)
            pipeline.execute()
    rq_mode()
    db.session.expire_all()
    export = db.session.get(Export, export_id)
    assert (export.state, export.attempt, export.reason) == ("done", 2, None)
    files = sorted(p.relative_to(app.config["EXPORT_DIR"]).as_posix()
                   for p in (Path(app.config["EXPORT_DIR"]) / export_id).rglob("*") if p.is_file())
    assert files == [export.file_path] and export.file_path.startswith(f"{export_id}/2/")
    assert "Download room-" in teacher.status(export_id).text


def test_the_status_poll_ends_an_export_whose_worker_died_and_it_can_be_asked_for_again(teacher, rq_mode, app, db):
    export_id = export_id_of(teacher.export().text)
    died_while_making(db, app, export_id)
    with app.app_context():          # the worker took the job and died with it: RQ still says "started"
        jobs.queue("exports").remove(export_id)
        rq_job(export_id).set_status(JobStatus.STARTED)
    status = teacher.status(export_id).text
    assert "Failed: This report stopped without finishing: the worker making it stopped. Ask for it again." in status
    assert not polls(status)
    assert not (Path(app.config["EXPORT_DIR"]) / export_id).exists()   # no half-written file stays
    again = teacher.export()
    assert "already" not in again.text and export_id_of(again.text) != export_id


def test_an_export_whose_retry_waits_in_rq_is_kept(teacher, rq_mode, app, db):
    export_id = export_id_of(teacher.export().text)
    died_while_making(db, app, export_id)
    with app.app_context():          # its heartbeat stopped, but RQ holds a retry that will take it over
        jobs.queue("exports").remove(export_id)
        rq_job(export_id).set_status(JobStatus.SCHEDULED)
    status = teacher.status(export_id).text
    assert polls(status) and "Making the file…" in status
    assert "This report is already being made" in teacher.export().text


def test_a_queued_export_whose_job_was_lost_ends_as_never_started(teacher, rq_mode, app, db):
    export_id = export_id_of(teacher.export().text)
    export = db.session.get(Export, export_id)
    export.created_at = utcnow() - timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 1)
    db.session.commit()
    assert polls(teacher.status(export_id).text)      # its job waits in the queue: kept
    with app.app_context():
        jobs.queue("exports").connection.flushdb()    # Redis restarted without its data
    status = teacher.status(export_id).text
    assert "Failed: This report was never started: its job was lost" in status and not polls(status)


def test_a_run_that_lost_its_export_changes_nothing(teacher, rq_mode, app, db):
    export_id = export_id_of(teacher.export().text)
    died_while_making(db, app, export_id, attempt=2, silent=False)     # attempt 2 took it over
    first, second = holder.Holder(export_id, export_id, 1), holder.Holder(export_id, export_id, 2)
    with app.app_context():
        assert holder.finish(export_id, "done", holder=first, file_name="stale.csv") is False
        assert holder.note(first, "Still here") is False
        assert holder.hand_over(first, f"{export_id}-email", "Sending the email…") is None
    db.session.expire_all()
    export = db.session.get(Export, export_id)
    assert (export.state, export.attempt, export.reason, export.file_name) == ("running", 2, None, None)
    with app.app_context():
        assert holder.finish(export_id, "failed", "A reason.", holder=second) is True
        assert holder.finish(export_id, "done", holder=second) is False        # ended once
    db.session.expire_all()
    assert db.session.get(Export, export_id).state == "failed"


def test_an_export_that_cannot_be_queued_says_only_that(teacher, exports_config, db, redis_down):
    response = teacher.export()
    assert response.status_code == 503
    assert ("The report was not exported: the background job service is not answering, so this could not be "
            "queued; try again in a few minutes.") in response.text
    assert "being made" not in response.text and not polls(response.text)
    export = db.session.scalar(select(Export))
    assert export.state == "failed" and export.reason.startswith("The report could not be queued")
    redis_down.start()
    again = teacher.export()                          # not "already in progress"
    assert again.status_code == 200 and "The report is being made" in again.text
    assert db.session.scalar(select(func.count(Export.id))) == 2
