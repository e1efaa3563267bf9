"""The garbage collector of a serving process: long-lived objects frozen, thresholds from the settings.

A full (generation 2) collection walks every object the collector tracks. Once the app is built that
is some 150 000 objects (modules, SQLAlchemy's mappers, Jinja's templates, the app itself) that live
as long as the process; a request that happens to trigger the collection paid 60-70 ms for walking
them. `gc.freeze()` moves everything alive at that moment into a permanent generation the collector
never walks, so a request's collections cost what that request allocated.

The thresholds (GC_THRESHOLDS, default 20000,20,100 instead of Python's 700,10,10): a gallery page
allocates some 10 000 containers, so Python's made a dozen young collections per page and, once the
frozen objects no longer count as long-lived, a full one every ~100 pages; with these a page makes
less than one young collection and full ones are rare (bench/dashboard.py measures both).

`settle(config)` is called at the end of `create_app` (one process serving: `flask run`, a worker,
a gunicorn worker without --preload) and again by `config/gunicorn.conf.py` once a worker has
loaded the app (`post_worker_init`), and in the master before it forks (`when_ready`, with
--preload), so the workers share the frozen pages instead of copying them when a collection
would have touched them.
"""
from __future__ import annotations

import gc
from typing import Mapping


def settle(config: Mapping) -> int:
    """Apply GC_THRESHOLDS and, unless GC_FREEZE is off, collect once and freeze what is left; returns
    the number of frozen objects (0 when GC_FREEZE is off)."""
    thresholds = tuple(config.get("GC_THRESHOLDS") or ())
    if thresholds:
        gc.set_threshold(*thresholds)
    if not config.get("GC_FREEZE", True):
        return 0
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
