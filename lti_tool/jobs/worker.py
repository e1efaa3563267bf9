"""The RQ worker of `flask rq worker`: built from the app the CLI made, one app context per job.

Every JOB_MAINTENANCE_SECONDS the worker does RQ's upkeep, which restarts its scheduler process when it
has died (it dies when Redis goes away; without it, retries that fall due are never queued) and hands
jobs abandoned by a dead worker to their failure callback and retry, and then ours (`jobs.maintenance`).
A killed work horse gets its job's failure callback too, which RQ itself does not call.

RQ's worker waits out a Redis outage only while it waits for a job; one that comes in the middle of a job
makes it quit. `run()` (what `flask rq worker` runs) then starts a new worker as soon as Redis answers.
"""
from __future__ import annotations

import logging
import signal
import time

from flask import Flask
from rq import Queue, SimpleWorker, Worker

from lti_tool.extensions import db
from lti_tool.outages import Outage, database_unavailable, reason, redis_unavailable

log = logging.getLogger("lti_tool.jobs")


class WorkHorseKilled(Exception):
    """The process running a job died (SIGKILL, out of memory) before the job ended."""


class _AppContext:
    """Runs each job inside a fresh app context of the worker's app, so jobs use db.session as views do
    and leave nothing behind (the context's teardown removes the session)."""

    app: Flask
    stop_requested = False

    def request_stop(self, signum, frame):
        self.stop_requested = True  # SIGTERM or SIGINT: `run()` must not start another worker
        return super().request_stop(signum, frame)

    def perform_job(self, job, queue, *args, **kwargs):  # rq 3 adds an `execution` argument
        with self.app.app_context():
            if self.is_horse:
                # A forked child must not share the parent's pooled connections.
                db.engine.dispose(close=False)
            return super().perform_job(job, queue, *args, **kwargs)

    def run_maintenance_tasks(self):
        from . import maintenance

        with self.app.app_context():
            try:
                maintenance()
            except Exception as exc:  # RQ's own upkeep runs all the same
                if database_unavailable(exc):
                    log.warning("job maintenance skipped, the database does not answer: %s", reason(exc))
                else:
                    log.exception("job maintenance failed")
            return super().run_maintenance_tasks()

    def handle_work_horse_killed(self, job, retpid, ret_val, rusage):
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        callback = job.failure_callback
        if callback is None:
            return
        error = WorkHorseKilled(f"the process running the job ended with status {ret_val}")
        with self.app.app_context():
            try:
                callback(job, job.connection, WorkHorseKilled, error, None)
            except Exception:
                log.exception("the failure callback of job %s raised", job.id)


class AppWorker(_AppContext, Worker):
    """Forks a child per job (a job that crashes or overruns its timeout takes only its child down)."""


class AppSimpleWorker(_AppContext, SimpleWorker):
    """Runs jobs in the worker's own process (no fork): for tests and platforms without fork()."""


def run(app: Flask, queue_names: tuple[str, ...], *, burst: bool = False, simple: bool = False,
        with_scheduler: bool = True) -> None:
    """Work until asked to stop (or, with `burst`, until no job is left); a worker that quit because
    Redis went away is followed by a new one once Redis answers again."""
    while True:
        worker = make_worker(app, queue_names, simple=simple)
        try:
            worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=app.config["LOG_LEVEL"])
        except Exception as exc:  # its last words to Redis (registering its death) found it gone
            if not redis_unavailable(exc):
                raise
        finally:
            # RQ's handlers would ask the finished worker to stop; until the next one, a signal just ends us.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if burst or worker.stop_requested:
            return
        _wait_for_redis(app)
        log.warning("starting a new worker")


def _wait_for_redis(app: Flask) -> None:
    connection = app.extensions["jobs"].connection
    outage = Outage("Redis (the job queues)", first=1.0, longest=float(app.config["JOB_MAINTENANCE_SECONDS"]),
                    logger=log)
    wait = 1.0
    while True:
        time.sleep(wait)  # also when it answers: a worker that quit for another reason does not spin
        try:
            connection.ping()
        except Exception as exc:
            if not redis_unavailable(exc):
                raise
            wait = outage.failed(exc)
            continue
        outage.ok()
        return


def make_worker(app: Flask, queue_names: tuple[str, ...], simple: bool = False):
    from . import QUEUES

    unknown = [name for name in queue_names if name not in QUEUES]
    if unknown:
        raise ValueError(f"unknown queue {', '.join(unknown)}; queues are {', '.join(QUEUES)}")
    jobs = app.extensions["jobs"]
    queues = [Queue(name, connection=jobs.connection, default_timeout=app.config["JOB_TIMEOUTS"][name])
              for name in queue_names or QUEUES]
    every = int(app.config["JOB_MAINTENANCE_SECONDS"])
    # The worker waits for a job at most `every` seconds (its TTL less 15, see rq.Worker.dequeue_timeout),
    # so its upkeep runs on time while it is idle.
    worker = (AppSimpleWorker if simple else AppWorker)(queues, connection=jobs.connection,
                                                        default_result_ttl=app.config["JOB_RESULT_TTL"],
                                                        maintenance_interval=every, worker_ttl=every + 15)
    # While Redis is down it retries at most this far apart (RQ's default is 60 s).
    worker.max_connection_wait_time = float(every)
    worker.app = app
    return worker
