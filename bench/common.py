"""What the benchmarks share: a bench database made fresh, a real teacher launch through the dev
platform, and percentiles. Run the scripts as `python bench/<name>.py` (this folder is on the path)."""
from __future__ import annotations

import re
import sys
from html import unescape

BASE = "http://127.0.0.1:5000"


def fresh_database(url: str) -> None:
    """Create the bench database when missing and empty its schema; refuse other databases."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database or ""
    if "bench" not in name:
        sys.exit(f"refusing to reset database {name!r}: the bench database's name must contain 'bench'")
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def fields(html: str) -> tuple[str, dict]:
    """The action and hidden fields of the auto-posting form of a launch step."""
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', html).group(1))
    return action, {k: unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', html)}


def launch_teacher(app):
    """A real launch through the dev platform; returns (client, session token, the landing page's path)."""
    client = app.test_client()
    _action, data = fields(client.post(f"{BASE}/dev/start", data={"person": "teacher", "course": "bio101"}).text)
    login = client.post(f"{BASE}/lti/login", data=data)
    _action, data = fields(client.get(login.location).text)
    launch = client.post(f"{BASE}/lti/launch", data=data)
    page = client.get(BASE + launch.location)
    token = re.search(r'"X-Session-Token": "([^"]+)"', unescape(page.text)).group(1)
    return client, token, BASE + launch.location.split("?")[0]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
