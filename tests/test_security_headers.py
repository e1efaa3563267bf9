"""HSTS on HTTPS responses (HSTS_SECONDS; one year by default in production, off elsewhere) and no
server version banner, checked on the test client and on the real servers: Werkzeug's development
server (`flask run`, over HTTP and over TLS) and gunicorn behind a TLS proxy."""
from __future__ import annotations

import http.client
import re
import ssl
from urllib.parse import urlsplit

import pytest

import config
from lti_tool import create_app

from .conftest import DATABASE_URL, REDIS_URL, TEST_SETTINGS
from .support.processes import START_TIMEOUT, AppProcess, app_environment, free_port, wait_for

YEAR = 365 * 24 * 3600
VERSION = re.compile(r"\d+\.\d+|Python", re.I)   # "Werkzeug/3.1.9 Python/3.11.7", "gunicorn/19.9.0"


def fetch(url: str, path: str = "/static/app.css", headers: dict | None = None) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    if parts.scheme == "https":
        unverified = ssl.create_default_context()
        unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE  # the dev server's own cert
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=10, context=unverified)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_hsts_only_on_https_requests_when_configured(app):
    strict = create_app({**TEST_SETTINGS, "HSTS_SECONDS": 600}).test_client()
    assert strict.get("/static/app.css", base_url="https://tool.test").headers["Strict-Transport-Security"] == \
        "max-age=600"
    assert "Strict-Transport-Security" not in strict.get("/static/app.css", base_url="http://tool.test").headers
    missing = strict.get("/no/such/page", base_url="https://tool.test")       # error pages too
    assert missing.status_code == 404 and missing.headers["Strict-Transport-Security"] == "max-age=600"
    off = app.test_client().get("/static/app.css", base_url="https://tool.test")   # tests: HSTS_SECONDS 0
    assert "Strict-Transport-Security" not in off.headers


def test_production_sends_hsts_for_a_year_unless_told_otherwise(monkeypatch):
    for name, value in (("SECRET_KEY", "s"), ("KEY_ENCRYPTION_SECRET", "k"), ("DATABASE_URL", DATABASE_URL)):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HSTS_SECONDS", raising=False)
    assert config.load("prod").HSTS_SECONDS == YEAR
    assert config.load("dev").HSTS_SECONDS == 0 and config.load("test").HSTS_SECONDS == 0
    monkeypatch.setenv("HSTS_SECONDS", "0")
    assert config.load("prod").HSTS_SECONDS == 0
    monkeypatch.setenv("HSTS_SECONDS", "a year")
    with pytest.raises(RuntimeError, match="HSTS_SECONDS"):
        config.load("prod")


@pytest.fixture
def processes(app):
    """Real server processes (production settings) on this run's database and Redis; each started and
    answering on its `url` before the test goes on, and stopped at the end whatever happened."""
    started: list[AppProcess] = []

    def start(process: AppProcess) -> AppProcess:
        started.append(process)
        url, process.url = process.url, None       # wait here: AppProcess's probe speaks plain HTTP only
        process.start()
        process.url = url

        def answers() -> bool:
            try:
                return fetch(url).status == 200
            except OSError:
                return not process.running
        wait_for(answers, START_TIMEOUT, f"{process.name} to answer")
        assert process.running, process.output()[-4000:]
        return process
    yield start
    for process in started:
        process.cleanup()


def flask_run(*options: str) -> AppProcess:
    """`flask run` (Werkzeug's development server, as the demo runs it) on a free loopback port."""
    port = free_port()
    process = AppProcess.flask(["run", "--host", "127.0.0.1", "--port", str(port), *options],
                               app_environment(DATABASE_URL, REDIS_URL), "flask-run")
    process.url = f"{'https' if options else 'http'}://127.0.0.1:{port}"
    return process


def test_the_development_server_names_no_version_and_sends_hsts_over_tls(processes):
    plain = processes(flask_run())
    response = fetch(plain.url)
    assert response.getheader("Server") and not VERSION.search(response.getheader("Server")), response.getheader("Server")
    assert response.getheader("Strict-Transport-Security") is None            # plain HTTP: no HSTS
    tls = processes(flask_run("--cert", "adhoc"))                              # a self-signed certificate
    response = fetch(tls.url)
    assert not VERSION.search(response.getheader("Server") or ""), response.getheader("Server")
    assert response.getheader("Strict-Transport-Security") == f"max-age={YEAR}"


def test_gunicorn_names_no_version_and_sends_hsts_behind_a_tls_proxy(processes):
    web = AppProcess.web(app_environment(DATABASE_URL, REDIS_URL), workers=1)
    processes(web)
    direct = fetch(web.url)
    assert direct.getheader("Server") == "gunicorn" and direct.getheader("Strict-Transport-Security") is None
    # Behind the TLS proxy production runs behind (ProxyFix trusts its X-Forwarded-Proto).
    proxied = fetch(web.url, headers={"X-Forwarded-Proto": "https"})
    assert proxied.getheader("Strict-Transport-Security") == f"max-age={YEAR}"
    assert [name for name, _value in proxied.getheaders() if name.lower() == "server"] == ["Server"]
