"""Headless Chromium (Debian's package) driven by Playwright against the tool on a loopback server.

The live server runs the dev platform against its own PostgreSQL database and Redis database, so
browser tests never see the transaction-per-test data of the other tests.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask_migrate import upgrade

from lti_tool import MIGRATIONS_DIR, create_app
from lti_tool.extensions import db as _db

from ..conftest import REDIS_URL, TEST_SETTINGS, fresh_database
from ..support.servers import LoopbackServer

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    database = fresh_database("browser")
    # The Redis database below the tests' own (15 -> 14), so parallel runs on other databases stay apart.
    base, _, number = REDIS_URL.rpartition("/")
    redis_url = f"{base}/{max(int(number or 0) - 1, 0)}" if number.isdigit() else REDIS_URL
    app = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": database, "REDIS_URL": redis_url,
                      "DEV_PLATFORM_ENABLED": True,
                      # The demo's emails (no SMTP_URL) go to an outbox of the run, not the checkout's instance folder.
                      "MAIL_OUTBOX_DIR": str(tmp_path_factory.mktemp("outbox"))})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    with LoopbackServer(app) as server:
        result = app.test_cli_runner().invoke(args=["demo", "setup", "--base-url", server.url])
        assert result.exit_code == 0, result.output
        # A small semester of viewing ending yesterday, so the default "last 30 days" has data.
        result = app.test_cli_runner().invoke(args=["demo", "seed", "--events", "6000"])
        assert result.exit_code == 0, result.output
        yield server
    with app.app_context():
        _db.engine.dispose()


def launch_chromium(playwright, extra_flags=()):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, *extra_flags])


@pytest.fixture
def browser_page(chromium):
    context = chromium.new_context(viewport={"width": 1024, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
