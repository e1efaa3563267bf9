"""The job system: one enqueue helper (timeouts, TTLs, retries), a real RQ worker built through the app
(`flask rq worker`), and the same job functions in-process."""
from __future__ import annotations

import pytest
from flask import current_app, g
from rq.job import Job

from lti_tool import jobs
from lti_tool.extensions import db as _db
from lti_tool.models import Export

from .conftest import export_id_of, polls

ATTEMPTS: list[tuple[str, int]] = []


def flaky(name: str, failures: int) -> None:
    """A job that fails `failures` times with a transient error, then succeeds; it needs an app context."""
    assert current_app and "seen" not in g          # a fresh app context per attempt
    g.seen = True
    _db.session.execute(_db.select(1))              # the database is there, as in a view
    ATTEMPTS.append((name, jobs.retries_left()))
    if sum(1 for n, _ in ATTEMPTS if n == name) <= failures:
        raise jobs.TransientError("the other side did not answer")


@pytest.fixture(autouse=True)
def fresh_attempts():
    ATTEMPTS.clear()
    yield
    ATTEMPTS.clear()


def test_enqueue_sets_timeout_ttls_and_retries(app, db, rq_mode):
    with app.app_context():
        job_id = jobs.enqueue(flaky, "a", 0, queue="emails")
        job = Job.fetch(job_id, connection=jobs.queue("emails").connection)
    assert job.origin == "emails" and job.args == ("a", 0)
    assert job.timeout == app.config["JOB_TIMEOUTS"]["emails"] == 120
    assert (job.result_ttl, job.failure_ttl) == (24 * 3600, 7 * 24 * 3600)
    assert job.retries_left == 2 and job.retry_intervals == [0, 0]
    with pytest.raises(ValueError, match="unknown queue"), app.app_context():
        jobs.enqueue(flaky, "a", 0, queue="nope")


def test_transient_failures_are_retried_by_the_worker(app, db, rq_mode):
    with app.app_context():
        job_id = jobs.enqueue(flaky, "w", 2)
    rq_mode()
    assert ATTEMPTS == [("w", 2), ("w", 1), ("w", 0)]          # three attempts, the last one succeeds
    with app.app_context():
        assert Job.fetch(job_id, connection=jobs.queue("default").connection).get_status() == "finished"


def test_in_process_runs_the_same_function_with_the_same_retries(app, db, exports_config):
    with app.app_context():
        jobs.enqueue(flaky, "i", 2)                                # outside a request: at once
    assert ATTEMPTS == [("i", 2), ("i", 1), ("i", 0)]
    ATTEMPTS.clear()
    with app.app_context():
        jobs.enqueue(flaky, "never", 5)                            # more failures than attempts: given up
    assert [left for _, left in ATTEMPTS] == [2, 1, 0]


def test_in_process_during_a_request_runs_after_the_response(teacher, exports_config, db):
    response = teacher.export(close=False)
    export_id = export_id_of(response.text)
    assert db.session.get(Export, export_id).state == "queued"   # the answer did not wait for the work
    response.close()                                             # the server closes the response: the job runs
    db.session.expire_all()
    assert db.session.get(Export, export_id).state == "done"
    assert not polls(teacher.status(export_id).text)


def test_flask_rq_worker_runs_queued_exports(teacher, rq_mode, app, db):
    export_id = export_id_of(teacher.export(delivery="download").text)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["rq", "worker", "--burst", "--simple", "exports"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    export = db.session.get(Export, export_id)
    assert export.state == "done" and export.file_name.endswith(".csv")


def test_flask_rq_worker_needs_redis(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    result = app.test_cli_runner().invoke(args=["rq", "worker", "--burst"])
    assert result.exit_code != 0 and "REDIS_URL is not set" in result.output
    unknown = app.test_cli_runner().invoke(args=["rq", "worker", "everything"])
    assert unknown.exit_code != 0 and "everything" in unknown.output
