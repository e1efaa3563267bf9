"""Exports fixtures: a real SMTP server on loopback (aiosmtpd), a real RQ worker in burst mode in this
process (it shares the test's rolled-back database connection), and a teacher on the room page."""
from __future__ import annotations

import csv
import email
import io
import re
import signal
import socket
import threading
import time
from email import policy

import pytest

from lti_tool.jobs.worker import make_worker

from ..rooms.test_room_analytics import loaded  # noqa: F401  (the hand-computed room session)
from ..support.clients import Viewer
from ..support.factories import give_room_to


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.arrived:
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait(self, count: int = 1, timeout: float = 10) -> list:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        assert len(self.messages) >= count, f"{len(self.messages)} of {count} emails arrived"
        return self.messages

    def link(self, index: int = -1) -> str:
        """The download link of a received email (the same in its text and HTML parts)."""
        message = self.messages[index]
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        url = re.search(r"https?://\S+/exports/download/\S+", text).group(0)
        assert f'href="{url}"' in html
        return url


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{controller.port}"
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def exports_config(app, monkeypatch, tmp_path):
    """Exports stored under a temporary EXPORT_DIR; retries without waiting (tests that measure backoff
    set their own intervals)."""
    monkeypatch.setitem(app.config, "EXPORT_DIR", str(tmp_path / "exports"))
    monkeypatch.setitem(app.config, "JOB_RETRY_INTERVALS", (0, 0))
    monkeypatch.setitem(app.config, "SMTP_URL", None)
    return app.config


@pytest.fixture
def mail_on(app, monkeypatch, exports_config, smtp_server):
    monkeypatch.setitem(app.config, "SMTP_URL", smtp_server.url)
    return smtp_server


@pytest.fixture
def rq_mode(app, monkeypatch, exports_config):
    """Jobs go to Redis; `work()` runs a real worker (burst, with the retry scheduler) until no job is
    left that is due. The worker's signal handlers are put back afterwards."""
    monkeypatch.setitem(app.config, "JOB_RUNNER", "rq")
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def work(queues=("exports", "emails", "default")) -> bool:
        worker = make_worker(app, tuple(queues), simple=True)
        try:
            return worker.work(burst=True, with_scheduler=True, logging_level="WARNING")
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)

    yield work
    for sig, handler in saved.items():
        signal.signal(sig, handler)


class Teacher(Viewer):
    """The teacher's session on the course that holds room-1 (the hand-computed session)."""

    def room_page(self, query: str = "session=main"):
        return self.get(f"/courses/{self.course.id}/rooms/room-1/?{query}")

    def dialog(self, **args):
        query = "&".join(f"{k}={v}" for k, v in args.items())
        return self.htmx("export-dialog").get(f"/courses/{self.course.id}/exports/new?{query}")

    def export(self, close: bool = True, **form):
        """POST the dialog's form as htmx does; closing the response runs an in-process job (it runs
        after the response is sent, as the web server does)."""
        data = {"kind": "room-csv", "room": "room-1", "session": "main", **form}
        response = self.htmx("export-status").post(f"/courses/{self.course.id}/exports/", data=data)
        if close:
            response.close()
        return response

    def status(self, export_id: str):
        return self.htmx().get(f"/courses/{self.course.id}/exports/{export_id}/status")


@pytest.fixture
def teacher(launch_as, db, loaded):  # noqa: F811
    viewer = launch_as("teacher")
    give_room_to(db.session, viewer.course)
    return Teacher(viewer.client, viewer.page, viewer.person, viewer.course)


def export_id_of(html: str) -> str:
    return re.search(r'id="export-([0-9a-f]{32})"', html).group(1)


def polls(html: str) -> bool:
    return 'hx-trigger="every 2s"' in html


def sections(data: bytes) -> dict[str, list[list[str]]]:
    """A report CSV as {section title: [header, rows...]} (sections are separated by an empty line)."""
    text = data.decode("utf-8-sig")
    blocks: dict[str, list[list[str]]] = {}
    current = None
    for row in csv.reader(io.StringIO(text)):
        if not row:
            current = None
            continue
        if current is None:
            if len(row) == 1:
                current = row[0]
                blocks[current] = []
            else:
                blocks.setdefault("_preamble", []).append(row)
                continue
        else:
            blocks[current].append(row)
    return blocks


def until(predicate, timeout: float = 10, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out waiting")
