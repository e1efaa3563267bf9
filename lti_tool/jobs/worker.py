"""The RQ worker of `flask rq worker`: built from the app the CLI made, one app context per job."""
from __future__ import annotations

from flask import Flask
from rq import Queue, SimpleWorker, Worker

from lti_tool.extensions import db


class _AppContext:
    """Runs each job inside a fresh app context of the worker's app, so jobs use db.session as views do
    and leave nothing behind (the context's teardown removes the session)."""

    app: Flask

    def perform_job(self, job, queue, *args, **kwargs):  # rq 3 adds an `execution` argument
        with self.app.app_context():
            if self.is_horse:
                # A forked child must not share the parent's pooled connections.
                db.engine.dispose(close=False)
            return super().perform_job(job, queue, *args, **kwargs)


class AppWorker(_AppContext, Worker):
    """Forks a child per job (a job that crashes or overruns its timeout takes only its child down)."""


class AppSimpleWorker(_AppContext, SimpleWorker):
    """Runs jobs in the worker's own process (no fork): for tests and platforms without fork()."""


def make_worker(app: Flask, queue_names: tuple[str, ...], simple: bool = False):
    from . import QUEUES

    unknown = [name for name in queue_names if name not in QUEUES]
    if unknown:
        raise ValueError(f"unknown queue {', '.join(unknown)}; queues are {', '.join(QUEUES)}")
    jobs = app.extensions["jobs"]
    queues = [Queue(name, connection=jobs.connection, default_timeout=app.config["JOB_TIMEOUTS"][name])
              for name in queue_names or QUEUES]
    worker = (AppSimpleWorker if simple else AppWorker)(queues, connection=jobs.connection,
                                                        default_result_ttl=app.config["JOB_RESULT_TTL"])
    worker.app = app
    return worker
