"""Fault-test fixtures: a private PostgreSQL cluster (one per test run, a fresh migrated database per
test) and a private redis-server per test, both of which a test may stop, kill and restart, and the
app's real processes (`flask …` commands, the gunicorn web server) pointed at them.

    def test_x(services):
        web = services.web(BEACON_QUEUE="on").start()
        drain = services.flask(["ingest", "drain"]).start()
        services.postgres.restart(down_seconds=5)   # pg_ctl stop -m immediate, then start
        services.redis.stop(); services.redis.start()
        drain.kill(); drain.start()
        with services.app.app_context(): ...          # the test's own app on the same services

Every process and server is stopped at the end of the test, whatever happened.
"""
from __future__ import annotations

import itertools

import pytest
from flask_migrate import upgrade

from lti_tool import MIGRATIONS_DIR, create_app
from lti_tool.extensions import db as _db

from ..support.processes import AppProcess, PrivatePostgres, PrivateRedis, app_environment, test_settings

TEMPLATE_DB = "faults_template"
_numbers = itertools.count(1)


def migrated_database(cluster: PrivatePostgres, name: str) -> str:
    """The URL of a new database `name` of the cluster, migrated to the newest schema."""
    url = cluster.create_database(name)
    app = create_app(test_settings(url, None))
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        _db.engine.dispose()
    return url


@pytest.fixture(scope="session")
def pg_cluster():
    """A private PostgreSQL cluster for the run, with a migrated template database."""
    cluster = PrivatePostgres()
    try:
        cluster.start()
        migrated_database(cluster, TEMPLATE_DB)
        yield cluster
    finally:
        cluster.cleanup()


class Services:
    """The private services of one test and the app processes started on them."""

    def __init__(self, postgres: PrivatePostgres, database_url: str, redis: PrivateRedis) -> None:
        self.postgres, self.database_url, self.redis = postgres, database_url, redis
        self.processes: list[AppProcess] = []
        self._app = None

    def env(self, **settings: str) -> dict[str, str]:
        """The environment of an app process on these services (APP_ENV=prod); `settings` override."""
        return app_environment(self.database_url, self.redis.url(), **settings)

    def flask(self, args: list[str], **settings: str) -> AppProcess:
        """A `flask …` command as a subprocess (not started yet: call .start())."""
        process = AppProcess.flask(args, self.env(**settings))
        self.processes.append(process)
        return process

    def web(self, workers: int = 2, **settings: str) -> AppProcess:
        """The web app under gunicorn on a free loopback port (not started yet: call .start(); then .url)."""
        process = AppProcess.web(self.env(**settings), workers=workers)
        self.processes.append(process)
        return process

    @property
    def app(self):
        """The test's own app (TestConfig) on the same database, Redis and secrets."""
        if self._app is None:
            self._app = create_app(test_settings(self.database_url, self.redis.url()))
        return self._app

    def logs(self) -> str:
        """Every process's output, for a failure message."""
        return "\n".join(f"===== {p.name}\n{p.output()[-6000:]}" for p in self.processes)

    def close(self) -> None:
        for process in self.processes:
            process.cleanup()
        if self._app is not None:
            with self._app.app_context():
                _db.engine.dispose()


@pytest.fixture
def private_redis(request):
    """A private redis-server for one test, started: no persistence (`--save "" --appendonly no`) unless
    the test asks for it with `@pytest.mark.parametrize("private_redis", [{"persist": True}], indirect=True)`."""
    server = PrivateRedis(**getattr(request, "param", {}))
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def private_postgres(pg_cluster):
    """(cluster, URL of a fresh migrated database); the cluster is running when the test starts."""
    if not pg_cluster.running:  # a previous test left it stopped
        pg_cluster.start()
    name = f"faults_{next(_numbers)}"
    url = pg_cluster.create_database(name, template=TEMPLATE_DB)
    yield pg_cluster, url
    if not pg_cluster.running:
        pg_cluster.start()
    pg_cluster.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def services(private_postgres, private_redis, request):
    cluster, url = private_postgres
    bundle = Services(cluster, url, private_redis)
    try:
        yield bundle
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(bundle.logs())
        bundle.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so `services` can print the logs of a failed test."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
