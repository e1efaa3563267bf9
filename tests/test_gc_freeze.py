"""The garbage collector of serving processes (lti_tool/gctune.py): the factory and gunicorn's hooks
freeze what the app holds once it is built; GC_FREEZE=off freezes nothing. No duration
is asserted: bench/dashboard.py measures what the freeze does to the pages' p95/p50."""
from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import time

import pytest

import config as settings
from lti_tool import create_app

from .conftest import TEST_SETTINGS
from .support.processes import ROOT, free_port


@pytest.fixture
def collector():
    """The collector as Python left it, before and after (frozen objects are never freed otherwise)."""
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_factory_freezes_what_the_app_holds(collector):
    app = create_app({**TEST_SETTINGS, "GC_FREEZE": True})
    assert gc.get_freeze_count() > 0
    # The app and what it holds are out of the collector's walks (get_objects lists what it walks).
    walked = {id(o) for o in gc.get_objects()}
    assert id(app) not in walked and id(app.view_functions) not in walked


def test_gc_freeze_off_freezes_nothing(collector):
    create_app({**TEST_SETTINGS, "GC_FREEZE": False, "GC_THRESHOLDS": ()})
    assert gc.get_freeze_count() == 0


def test_thresholds_come_from_the_settings(collector):
    create_app({**TEST_SETTINGS, "GC_FREEZE": False, "GC_THRESHOLDS": (5000, 20, 30)})
    assert gc.get_threshold() == (5000, 20, 30)


def test_the_environment_names_both_settings(monkeypatch):
    monkeypatch.setenv("GC_FREEZE", "0")
    monkeypatch.setenv("GC_THRESHOLDS", "20000,15,15")
    loaded = settings.load("dev")
    assert loaded.GC_FREEZE is False and loaded.GC_THRESHOLDS == (20000, 15, 15)
    monkeypatch.setenv("GC_FREEZE", "maybe")
    with pytest.raises(RuntimeError, match="GC_FREEZE"):
        settings.load("dev")
    monkeypatch.delenv("GC_FREEZE")
    monkeypatch.delenv("GC_THRESHOLDS")
    assert settings.load("dev").GC_FREEZE is True  # on unless told otherwise


def _gunicorn_log(extra: list[str], env: dict, lines: int) -> str:
    """Start gunicorn with config/gunicorn.conf.py until `lines` lines of the hooks are logged, then stop it."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--workers", "2", "--bind",
               f"127.0.0.1:{port}", "--log-level", "info", *extra]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    output: list[str] = []
    deadline = time.monotonic() + 60
    try:
        for line in process.stdout:
            output.append(line)
            if sum("objects frozen" in seen for seen in output) >= lines or time.monotonic() > deadline:
                break
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)
    return "".join(output)


def _env(**extra) -> dict:
    return {**os.environ, "APP_ENV": "dev", "DATABASE_URL": TEST_SETTINGS["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": "", "PYTHONPATH": str(ROOT), **extra}


def test_gunicorn_workers_freeze_once_the_app_is_loaded():
    log = _gunicorn_log([], _env(), lines=2)
    counts = [int(n) for n in re.findall(r"gc: (\d+) objects frozen", log)]
    assert len(counts) == 2 and all(n > 0 for n in counts), log
    assert log.count("thresholds (20000, 20, 100)") == 2, log  # the settings' default


def test_gunicorn_master_freezes_before_forking_with_preload():
    log = _gunicorn_log(["--preload"], _env(), lines=3)
    counts = [int(n) for n in re.findall(r"gc: (\d+) objects frozen", log)]
    assert len(counts) == 3 and all(n > 0 for n in counts), log  # the master, then each worker


def test_gunicorn_with_gc_freeze_off_freezes_nothing():
    log = _gunicorn_log([], _env(GC_FREEZE="off"), lines=2)
    assert re.findall(r"gc: (\d+) objects frozen", log) == ["0", "0"], log
