"""Exports under faults, with real processes: `flask rq worker` (forking a work horse per job, with its
scheduler) on a private PostgreSQL and a private redis-server, its work horse or the whole worker killed
with SIGKILL mid-export, Redis stopped and started under it.

The oracle: every export ends done (its file there) or failed with a reason a person can read, within a
bounded time and without restarting anything but what a supervisor (systemd) restarts; the person can
then ask for the same report again. To kill a job while it is certainly making an export, the worker runs
`export_worker_app`, whose export jobs pause after writing their file and say which process they are.
Each test prints its figures: asked / done / failed (with the reasons).
"""
from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from rq import Worker
from rq.scheduler import RQScheduler
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from lti_tool import create_app
from lti_tool.exports import start_export
from lti_tool.exports.holder import reap
from lti_tool.exports.selection import gallery_params
from lti_tool.exports.tasks import export_dir, file_of
from lti_tool.extensions import db as _db
from lti_tool.models import Course, Export, Person
from lti_tool.models.types import utcnow
from lti_tool.registrations import RegistrationInput, upsert

from ..support.processes import test_settings, wait_for

# Seconds: heartbeats every second, silent for 4 s = dead, upkeep every 2 s, two retries 1 s apart.
TIMINGS = {"JOB_HEARTBEAT_SECONDS": 1, "JOB_STALE_SECONDS": 4, "JOB_MAINTENANCE_SECONDS": 2,
           "JOB_RETRY_INTERVALS": [1, 1]}
PAUSE = 3          # seconds each export job waits after writing its file (see export_worker_app)
SETTLE = 60        # seconds within which every export must have ended (far more than it needs)


class Exports:
    """The test's own app on the private services (JOB_RUNNER rq), a course with people who ask for
    exports, and the worker processes that make them."""

    def __init__(self, services, root: Path) -> None:
        self.services = services
        self.export_root, self.pauses = root / "exports", root / "pauses"
        self.export_root.mkdir()
        self.pauses.mkdir()
        self.app = create_app(test_settings(services.database_url, services.redis.url(), JOB_RUNNER="rq",
                                            EXPORT_DIR=str(self.export_root), **TIMINGS))
        self.asked: list[str] = []
        with self.app.app_context():
            registration, _ = upsert(RegistrationInput(
                issuer="https://canvas.test.edu", client_id="export-faults", deployment_ids=("1:faults",),
                auth_login_url="https://canvas.test.edu/api/lti/authorize_redirect",
                auth_token_url="https://canvas.test.edu/login/oauth2/token",
                key_set_url="https://canvas.test.edu/api/lti/security/jwks", title="Export faults"))
            course = Course(registration_id=registration.id, context_id="course-faults", title="Faults 101")
            _db.session.add(course)
            _db.session.commit()
            self.registration_id, self.course_id = registration.id, course.id

    def worker(self):
        """`flask rq worker exports emails` as production runs it (not started yet)."""
        return self.services.flask(
            ["rq", "worker", "exports", "emails"], FLASK_APP="tests.faults.export_worker_app",
            EXPORT_DIR=str(self.export_root), FAULT_JOB_SETTINGS=json.dumps(TIMINGS),
            FAULT_EXPORT_PAUSE=str(PAUSE), FAULT_PAUSE_DIR=str(self.pauses))

    def ask(self, who: str) -> str:
        """`who` asks for the Media Gallery CSV of the last 30 days (a person asks once at a time)."""
        with self.app.app_context():
            person = _db.session.scalar(select(Person).where(Person.subject == who))
            if person is None:
                person = Person(registration_id=self.registration_id, subject=who)
                _db.session.add(person)
                _db.session.commit()
            course = _db.session.get(Course, self.course_id)
            params = {**gallery_params(_db.session, course, MultiDict({"range": "last30"}), "UTC", utcnow()),
                      "headers": "raw"}
            export_id = start_export("gallery-csv", course.id, person.id, params, "download").id
        self.asked.append(export_id)
        return export_id

    def row(self, export_id: str) -> Export:
        with self.app.app_context():
            export = _db.session.get(Export, export_id)
            _db.session.expunge(export)
            return export

    def making(self, export_id: str, attempt: int, timeout: float = SETTLE) -> int:
        """Wait until attempt `attempt` of the export has written its file and pauses; its process id."""
        marker = self.pauses / f"{export_id}-{attempt}"
        wait_for(marker.exists, timeout, f"attempt {attempt} of export {export_id} to be under way")
        return int(marker.read_text())

    def read(self, export_id: str) -> Export:
        """What the person's status poll does: reap it if nobody is making it any more, then read it."""
        with self.app.app_context():
            export = _db.session.get(Export, export_id)
            reap(export)
            _db.session.expunge(export)
            return export

    def ended(self, export_id: str) -> Export:
        return wait_for(lambda: (lambda e: e if not e.active else None)(self.read(export_id)), SETTLE,
                        f"export {export_id} to end")

    def has_file(self, export: Export) -> bool:
        with self.app.app_context():
            return file_of(export) is not None

    def leftovers(self, export_id: str) -> list[str]:
        with self.app.app_context():
            root = export_dir() / export_id
        return sorted(str(p.relative_to(self.export_root)) for p in root.rglob("*") if p.is_file())

    def figures(self, title: str) -> Counter:
        rows = [self.row(export_id) for export_id in self.asked]
        states = Counter(e.state for e in rows)
        print(f"\n{title}: asked {len(rows)}, done {states['done']}, failed {states['failed']}, "
              f"still active {sum(e.active for e in rows)}")
        for export in rows:
            if export.state == "failed":
                print(f"  failed {export.id} (attempt {export.attempt}): {export.reason}")
        return states

    def assert_every_export_ended(self) -> None:
        for export_id in self.asked:
            export = self.ended(export_id)
            assert export.state in ("done", "failed"), export.state
            if export.state == "done":
                assert self.has_file(export) and export.file_size > 0
                assert self.leftovers(export_id) == [export.file_path]      # no other attempt's file stays
            else:
                assert export.reason and len(export.reason) > 20
                assert not self.has_file(export) and self.leftovers(export_id) == []
            assert export.active_key is None and export.finished_at is not None

    def close(self) -> None:
        with self.app.app_context():
            _db.engine.dispose()


@pytest.fixture
def exports(services, tmp_path):
    bundle = Exports(services, tmp_path)
    try:
        yield bundle
    finally:
        bundle.close()


def test_a_killed_work_horse_is_retried_and_the_retry_takes_the_export_over(exports):
    worker = exports.worker().start()
    # Killed once mid-export: the retry takes the "running" export over and makes it.
    once = exports.ask("once")
    os.kill(exports.making(once, 1), signal.SIGKILL)
    exports.making(once, 2)
    # Killed on every attempt: after the last one it ends as failed, with the reason.
    always = exports.ask("always")
    for attempt in (1, 2, 3):
        os.kill(exports.making(always, attempt), signal.SIGKILL)
    exports.assert_every_export_ended()
    assert exports.row(once).state == "done" and exports.row(once).attempt == 2
    failed = exports.row(always)
    assert failed.state == "failed" and failed.attempt == 3
    assert "the worker making it stopped" in failed.reason
    again = exports.ask("always")                                   # the person can ask again
    exports.making(again, 1)
    assert exports.ended(again).state == "done"
    states = exports.figures("work horse killed")
    assert states == Counter({"done": 2, "failed": 1})
    assert worker.running                                           # nothing had to be restarted


def test_a_worker_killed_whole_ends_its_export_as_failed_and_the_person_can_ask_again(exports):
    worker = exports.worker().start()
    running = exports.ask("running")
    horse = exports.making(running, 1)
    waiting = exports.ask("waiting")                # queued behind it: one worker makes one export at a time
    # SIGKILL to the worker and its scheduler (their process group) and to its work horse (RQ puts each
    # horse in a process group of its own; systemd's default KillMode=control-group kills it too).
    worker.kill()
    os.kill(horse, signal.SIGKILL)
    # No retry comes from a dead worker: once its heartbeat is JOB_STALE_SECONDS old, the person's status
    # poll ends the export, with the reason.
    failed = exports.ended(running)
    assert failed.state == "failed" and "the worker making it stopped" in failed.reason
    assert exports.read(waiting).state == "queued"  # its job still waits in Redis for a worker
    worker.start()                                  # as systemd would
    again = exports.ask("running")                  # not "already being made"
    assert again != running
    exports.assert_every_export_ended()
    assert [exports.row(e).state for e in (running, waiting, again)] == ["failed", "done", "done"]
    assert exports.figures("worker killed whole") == Counter({"done": 2, "failed": 1})


def idle_with_its_scheduler(redis_url: str) -> bool:
    """One worker registered in Redis, waiting for a job, and a scheduler holding the exports queue."""
    connection = redis.Redis.from_url(redis_url)
    try:
        workers = Worker.all(connection=connection)
        return (len(workers) == 1 and workers[0].get_state() == "idle"
                and bool(connection.exists(RQScheduler.get_locking_key("exports"))))
    except redis.ConnectionError:
        return False
    finally:
        connection.close()


def test_the_worker_survives_redis_outages_and_its_retries_still_run(exports):
    worker = exports.worker().start()
    # Redis stops in the middle of an export: RQ's worker quits, `flask rq worker` starts a new one.
    during = exports.ask("during")
    exports.making(during, 1)
    lost = exports.ask("lost")                       # queued in Redis when it stops
    exports.services.redis.stop()                    # no persistence: every queued job is lost with it
    time.sleep(3)
    exports.services.redis.start()
    for export_id in (during, lost):
        exports.ended(export_id)
    assert exports.row(during).state == "done"       # the work horse finished it in the database
    assert exports.row(lost).state == "failed" and "never started" in exports.row(lost).reason
    # Redis stops while the worker waits for a job: its scheduler process dies, the worker does not.
    wait_for(lambda: idle_with_its_scheduler(exports.services.redis.url()), SETTLE, "the worker to wait for jobs")
    new_workers = worker.output().count("starting a new worker")
    schedulers = worker.output().count("Scheduler for ")
    exports.services.redis.stop()
    time.sleep(3)
    exports.services.redis.start()
    # A retry that falls due after that runs without restarting anything: the scheduler is back.
    after = exports.ask("after")
    os.kill(exports.making(after, 1), signal.SIGKILL)
    exports.making(after, 2)
    exports.assert_every_export_ended()
    assert exports.row(after).state == "done" and exports.row(after).attempt == 2
    log = worker.output()
    print(f"\nworker process started {worker.starts} time(s); RQ worker restarted by `flask rq worker` "
          f"{log.count('starting a new worker')} time(s); scheduler died {log.count('Scheduler [PID')} time(s), "
          f"started {log.count('Scheduler for ')} time(s)")
    assert worker.running and worker.starts == 1                # nothing was restarted from outside
    assert log.count("starting a new worker") == new_workers    # the idle worker lived through the outage
    assert log.count("Scheduler for ") == schedulers + 1        # and its maintenance restarted the scheduler
    assert exports.figures("Redis stopped and started twice") == Counter({"done": 2, "failed": 1})
