"""Background jobs: RQ queues in production, the same job functions in-process in the embedded default.

Every job is enqueued through `enqueue()`, which sets its timeout, how long its result and failure
stay in Redis, and its retries. Job functions take ids (never ORM objects), reload what they need
and keep their own status row terminal; they raise only to ask for a retry (`TransientError`).

With JOB_RUNNER = "rq" the jobs go to Redis and `flask rq worker` runs them, one app context per
job (see `worker.py`). With "inline" (no Redis) they run in this process: after the response has
been sent when enqueued during a request, otherwise at once; retries wait JOB_RETRY_INTERVALS there
too. In-process jobs have no time limit (JOB_TIMEOUTS applies to RQ jobs): the embedded default is for
demos and small courses.

When Redis does not answer, `enqueue()` raises `Unavailable` (its message is written for a person): the
caller answers 503 and says the job could not be queued. `current_attempt()` numbers the runs of one job
(a retry is a later attempt), so a retry can take over what an earlier, dead attempt left running.
"""
from __future__ import annotations

import contextvars
import logging
import time
from functools import partial
from typing import Callable

from flask import Flask, after_this_request, current_app, has_request_context

QUEUES = ("exports", "emails", "default")
log = logging.getLogger("lti_tool.jobs")

# Retries left for the job running in-process (RQ keeps its own count on the job).
_inline_retries_left: contextvars.ContextVar[int | None] = contextvars.ContextVar("inline_retries_left", default=None)


class TransientError(Exception):
    """A failure worth trying again later (a mail server that does not answer). The message is
    written for the person who asked for the job."""


class Unavailable(Exception):
    """The job could not be queued: Redis does not answer."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("the background job service is not answering, so this could not be queued; "
                         "try again in a few minutes")
        self.detail = detail


def init_app(app: Flask) -> None:
    app.extensions["jobs"] = _Jobs(app)


class _Jobs:
    """The Redis connection and queues, made on first use: nothing connects at import or start."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._connection = None

    @property
    def connection(self):
        if self._connection is None:
            import redis

            url = self.app.config.get("REDIS_URL")
            if not url:
                raise RuntimeError("JOB_RUNNER is 'rq' but REDIS_URL is not set")
            from lti_tool.store import CONNECT_TIMEOUT

            self._connection = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT)
        return self._connection

    def queue(self, name: str):
        from rq import Queue

        if name not in QUEUES:
            raise ValueError(f"unknown queue {name!r}; one of {', '.join(QUEUES)}")
        return Queue(name, connection=self.connection, default_timeout=self.app.config["JOB_TIMEOUTS"][name])


def _jobs() -> _Jobs:
    return current_app.extensions["jobs"]


def queue(name: str):
    """The RQ queue `name` (exports, emails or default)."""
    return _jobs().queue(name)


def retry_intervals() -> tuple[int, ...]:
    """Seconds to wait before each retry of a transient failure; its length is the number of retries."""
    return tuple(current_app.config["JOB_RETRY_INTERVALS"])


def attempts_allowed() -> int:
    return len(retry_intervals()) + 1


def enqueue(func: Callable, *ids, queue: str = "default", timeout: int | None = None, job_id: str | None = None,
            on_failure: Callable | None = None) -> str:
    """Run `func(*ids)` in the background; returns the job id (`job_id` when given, e.g. an export's id).

    Arguments must be plain values (ids): the job reloads what it needs. `on_failure(job, connection,
    type, value, traceback)` (a module-level function; RQ only) runs when an attempt raises, when its work
    horse is killed and when RQ finds it abandoned; `job.retries_left` says whether a retry follows.
    Unavailable when Redis does not answer.
    """
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; one of {', '.join(QUEUES)}")
    config = current_app.config
    timeout = timeout or config["JOB_TIMEOUTS"][queue]
    if config["JOB_RUNNER"] == "rq":
        from rq import Callback, Retry

        from lti_tool.outages import redis_unavailable

        intervals = retry_intervals()
        try:
            job = _jobs().queue(queue).enqueue(
                func, *ids, job_id=job_id, job_timeout=timeout, result_ttl=config["JOB_RESULT_TTL"],
                failure_ttl=config["JOB_FAILURE_TTL"],
                retry=Retry(max=len(intervals), interval=list(intervals)) if intervals else None,
                on_failure=Callback(on_failure) if on_failure else None,
                description=f"{func.__module__}.{func.__qualname__}{ids!r}",
            )
        except Exception as exc:
            if redis_unavailable(exc):
                raise Unavailable(str(exc)) from exc
            raise
        return job.id
    import uuid

    job_id = job_id or uuid.uuid4().hex
    app = current_app._get_current_object()
    run = partial(run_inline, app, func, ids)
    if has_request_context():
        # After the response is sent: the page never waits for the work.
        @after_this_request
        def _later(response):
            response.call_on_close(run)
            return response
    else:
        run()
    return job_id


def run_inline(app: Flask, func: Callable, ids: tuple) -> None:
    """One job in this process, each attempt in a fresh app context, retried like RQ would."""
    intervals = tuple(app.config["JOB_RETRY_INTERVALS"])
    for attempt, wait in enumerate((*intervals, None)):
        token = _inline_retries_left.set(len(intervals) - attempt)
        try:
            with app.app_context():
                func(*ids)
            return
        except Exception:
            if wait is None:
                log.exception("job %s%r failed after %d attempts", func.__qualname__, ids, attempt + 1)
                return
            log.warning("job %s%r failed; trying again in %s s", func.__qualname__, ids, wait, exc_info=True)
        finally:
            _inline_retries_left.reset(token)
        time.sleep(wait)


def retries_left() -> int:
    """How many more times the running job will be tried if this attempt raises (0: this is the last)."""
    inline = _inline_retries_left.get()
    if inline is not None:
        return inline
    from rq import get_current_job

    job = get_current_job()
    return (job.retries_left or 0) if job is not None else 0


def current_attempt() -> int:
    """Which run of the running job this is: 1 for the first, 2 for its first retry, …"""
    return max(1, attempts_allowed() - retries_left())


def next_retry_in() -> int:
    """Seconds until the next attempt when this one fails (only meaningful while retries_left() > 0)."""
    intervals = retry_intervals()
    left = retries_left()
    if not intervals or not left:
        return 0
    return intervals[max(len(intervals) - left, 0)]


def job_status(job_id: str) -> str | None:
    """RQ's status of a job ("queued", "started", "failed", …), or None when Redis no longer knows it
    or jobs run in-process. Unavailable when Redis does not answer."""
    if current_app.config["JOB_RUNNER"] != "rq":
        return None
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from lti_tool.outages import redis_unavailable

    try:
        return Job.fetch(job_id, connection=_jobs().connection).get_status(refresh=False)
    except NoSuchJobError:
        return None
    except Exception as exc:
        if redis_unavailable(exc):
            raise Unavailable(str(exc)) from exc
        raise


# A job in one of these states will run (again): it is waiting in its queue or for its retry.
WAITING = ("queued", "scheduled", "deferred")


def maintenance() -> None:
    """What each worker does every JOB_MAINTENANCE_SECONDS besides RQ's own upkeep: end the exports
    that nobody is making any more (their job died with its worker)."""
    from lti_tool.exports.holder import reap_stale_exports

    reap_stale_exports()
