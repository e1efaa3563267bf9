"""gunicorn settings for the web processes: `gunicorn -c config/gunicorn.conf.py --workers 4 --bind … wsgi:app`.

Only the garbage collector lives here (lti_tool/gctune.py): each worker freezes what it holds once it
has loaded the app, and with --preload the master freezes the app before it forks the workers (they
then share those pages instead of copying them). GC_FREEZE=off and GC_THRESHOLDS are the app's
settings (read from the environment like the others).
"""
from __future__ import annotations

wsgi_app = "wsgi:app"


def _settle(app, log) -> None:
    from lti_tool.gctune import settle

    frozen = settle(app.config)
    log.info("gc: %s objects frozen, thresholds %s", frozen, app.config.get("GC_THRESHOLDS") or "Python's")


def when_ready(server) -> None:
    """In the master, before the first fork: with --preload the app is built here."""
    if server.cfg.preload_app and getattr(server.app, "callable", None) is not None:
        _settle(server.app.callable, server.log)


def post_worker_init(worker) -> None:
    """In each worker, once it has loaded the app."""
    _settle(worker.wsgi, worker.log)
