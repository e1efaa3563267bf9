"""Fixtures: a real PostgreSQL (rolled back per test), a real Redis, a platform on loopback HTTP.

No service is mocked and none is skipped: when PostgreSQL or Redis is missing the tests fail.
"""
from __future__ import annotations

import os

import pytest
from flask_migrate import upgrade
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from lti_tool import MIGRATIONS_DIR, create_app
from lti_tool.extensions import db as _db
from lti_tool.launch import keys
from lti_tool.models import Course
from lti_tool.registrations import RegistrationInput, upsert
from lti_tool.store import get_store

from .support.canvas import FakeCanvas, PlatformKey
from .support.clients import Viewer
from .support.servers import LoopbackServer

# Property-based and fuzz tests: the same examples on every run (CI stays predictable), no example
# database on disk; HYPOTHESIS_PROFILE=explore draws new ones, many more.
_HYPOTHESIS_CHECKS = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
hypothesis_settings.register_profile("default", deadline=None, derandomize=True, database=None, print_blob=True,
                                     suppress_health_check=_HYPOTHESIS_CHECKS)
hypothesis_settings.register_profile("explore", deadline=None, max_examples=500, print_blob=True,
                                     suppress_health_check=_HYPOTHESIS_CHECKS)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
if DATABASE_URL.startswith("postgresql://"):
    DATABASE_URL = "postgresql+psycopg://" + DATABASE_URL[len("postgresql://"):]

TEST_SETTINGS = {
    "APP_ENV": "test",
    "SQLALCHEMY_DATABASE_URI": DATABASE_URL,
    "REDIS_URL": REDIS_URL,
}


def reset_schema(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def fresh_database(suffix: str) -> str:
    """The URL of an empty database of its own beside the tests' one (<test database>_<suffix>), created
    when missing: for a live server, whose commits are real and would outlive a rolled-back test."""
    url = make_url(DATABASE_URL)
    own = url.set(database=f"{url.database}_{suffix}")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": own.database}).first():
            conn.execute(text(f'CREATE DATABASE "{own.database}"'))
    admin.dispose()
    database = own.render_as_string(hide_password=False)
    reset_schema(database)
    return database


@pytest.fixture(scope="session")
def app():
    app = create_app(dict(TEST_SETTINGS))
    reset_schema(DATABASE_URL)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        _db.engine.dispose()
    return app


@pytest.fixture
def db(app, monkeypatch):
    """The database, inside a transaction rolled back after the test (commits become savepoints)."""
    with app.app_context():
        connection = _db.engine.connect()
        outer = connection.begin()
        monkeypatch.setitem(_db.engines, None, connection)
        monkeypatch.setattr(_db, "session", _db._make_scoped_session({"join_transaction_mode": "create_savepoint"}))
        try:
            yield _db
        finally:
            _db.session.remove()
            outer.rollback()
            connection.close()


@pytest.fixture(autouse=True)
def clean_redis(app):
    with app.app_context():
        client = get_store().client
    client.flushdb()
    yield
    client.flushdb()


@pytest.fixture
def client(app, db):
    return app.test_client()


@pytest.fixture
def runner(app, db):
    return app.test_cli_runner()


_DEFAULT_PLATFORM_KEY = PlatformKey.new("2026-11-01T00:00:00Z")


@pytest.fixture
def canvas():
    """A Canvas-like platform whose JWKS is served over real HTTP on loopback."""
    platform = FakeCanvas(keys=[_DEFAULT_PLATFORM_KEY])
    with LoopbackServer(platform.wsgi) as server:
        platform.base_url = server.url
        yield platform


@pytest.fixture
def tool_keys(db):
    keys.ensure_keys()


@pytest.fixture
def registration(db, canvas, tool_keys):
    reg, _ = upsert(RegistrationInput(
        issuer=canvas.issuer, client_id=canvas.client_id, deployment_ids=(canvas.deployment_id,),
        auth_login_url=canvas.auth_login_url, auth_token_url=canvas.token_url, key_set_url=canvas.jwks_url,
        title="Test Canvas", allowed_frame_hosts=("https://canvas.test.edu",),
    ))
    return reg


class LtiFlow:
    """Drives the OIDC login and the launch through the test client, as a browser and Canvas would."""

    def __init__(self, client, canvas: FakeCanvas) -> None:
        self.client = client
        self.canvas = canvas

    def login(self, person: str = "teacher", **overrides):
        return self.client.post("/lti/login", data=self.canvas.login_params(person, **overrides))

    def launch(self, person: str = "teacher", course: str = "course-a", *, claims=None, token=None,
               state=None, sign=None):
        response = self.login(person)
        assert response.status_code == 302, response.text
        params = self.canvas.auth_params(response.location)
        body = self.canvas.claims(person, params["nonce"], course)
        if claims:
            changed = claims(body)
            body = changed if isinstance(changed, dict) else body
        id_token = token(body) if token else self.canvas.sign(body, **(sign or {}))
        data = {"id_token": id_token, "state": params["state"] if state is None else state}
        return self.client.post("/lti/launch", data={k: v for k, v in data.items() if v is not False})

    def open(self, person: str = "teacher", course: str = "course-a", **launch):
        """A successful launch followed to the page it redirects to."""
        response = self.launch(person, course, **launch)
        assert response.status_code == 303, response.text
        return self.client.get(response.location)


@pytest.fixture
def lti(client, canvas, registration):
    return LtiFlow(client, canvas)


@pytest.fixture
def launch_as(lti, db, canvas):
    """launch_as(role, course="course-a", **launch) -> Viewer: a real OIDC login and LTI launch as the
    person of that role (tests/support/canvas.py ROLES: teacher, ta, designer, student, observer, admin),
    followed to the page it lands on. Every launch shares the one test client; each viewer's requests
    carry its own session token, so several people can be signed in at once, and `viewer.htmx(target)`
    is the same client as htmx drives it for the element with id `target`. `launch` goes to
    LtiFlow.launch (claims=, sign=, ...)."""
    def launch(role: str = "teacher", course: str = "course-a", **launch) -> Viewer:
        page = lti.open(role, course, **launch)
        row = db.session.scalar(select(Course).where(Course.context_id == canvas.context_id(course))
                                .order_by(Course.last_launch_at.desc()))  # the one just launched into
        return Viewer(lti.client, page, role, row)
    return launch


# One Playwright (sync API) per test run: a second one cannot start while the first is alive, so every
# directory with browser tests shares these two.
@pytest.fixture(scope="session")
def playwright():
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from .browser.conftest import CHROMIUM

    assert Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM}; scripts/test.sh installs it"
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def chromium(playwright):
    from .browser.conftest import launch_chromium

    browser = launch_chromium(playwright)
    yield browser
    browser.close()
