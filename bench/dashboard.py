"""Dashboard benchmark on PostgreSQL: the course Media Gallery page, its HTMX blocks, the report API and
the embed audit, with the garbage collector frozen and not (issue 15, "Tails").

    .venv/bin/python bench/dashboard.py [--events 1000000] [--requests 40] [--no-blocks] [--gc on|off|both]
        [--thresholds 20000,20,100]   # also GC_FREEZE=on with these GC_THRESHOLDS

DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/bench_dashboard; its name must
contain "bench") is seeded by bench/seed.py with about --events player events of the demo's semester
(once per size: a later run asking for the same size reuses the data), then `VACUUM ANALYZE`. The
teacher launches through the dev platform (a real LTI launch); every request is timed warm,
in-process through the Flask test client (no network, no gunicorn).

Each --gc setting is measured in a fresh child process whose app is built with GC_FREEZE on (and the
settings' GC_THRESHOLDS) or off (and Python's own thresholds, 700,10,10: the process as it was before
issue 15), `lti_tool/gctune.py`, so the columns come from the same data in the same run; each child also
counts the collections of each generation during its timed requests, the CPU time of the longest
full one and of all of them.
Figures are milliseconds: p50, p95 and p95/p50 per request. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import BASE, launch_teacher, percentile  # noqa: E402  (after the path)

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_dashboard"
BLOCKS = ("highlights", "context", "timeline", "top", "insights", "funnel", "locations", "devices", "domains", "people")
HEADLINE = ("full page, last 30 days", "full page, last 12 months", "full page, since creation",
            "report API user-engagement, 12 months")


def _default_thresholds() -> tuple:
    import config

    return tuple(config.BaseConfig.GC_THRESHOLDS)


DEFAULT_THRESHOLDS = _default_thresholds()


class Collections:
    """Garbage collections while timing: how many of each generation, the CPU milliseconds of each full
    one and of all together (CPU time of this process: on a busy machine a wall clock would also count
    the time other processes had the core)."""

    def __init__(self) -> None:
        self.counts, self.full_ms, self.total_ms, self.longest_ms, self._started = [0, 0, 0], [], 0.0, 0.0, 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.process_time()
            return
        spent = (time.process_time() - self._started) * 1000
        self.counts[info["generation"]] += 1
        self.total_ms += spent
        self.longest_ms = max(self.longest_ms, spent)
        if info["generation"] == 2:
            self.full_ms.append(spent)


def timed(client, url: str, headers: dict, requests: int) -> list[float]:
    for _ in range(3):  # warm
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return times


def run_child(url: str, freeze: bool, requests: int, blocks: bool, thresholds: tuple = ()) -> None:
    """Time every request with the app built with GC_FREEZE on or off (and GC_THRESHOLDS); one JSON line."""
    from sqlalchemy import select

    from lti_tool import create_app
    from lti_tool.devplatform.platform import dev_registration, find_course
    from lti_tool.extensions import db
    from lti_tool.ingest import tokens
    from lti_tool.models import Course

    app = create_app({"APP_ENV": "dev", "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None, "JOB_RUNNER": "inline",
                      "SECRET_KEY": "bench", "KEY_ENCRYPTION_SECRET": "bench-keys", "GC_FREEZE": freeze,
                      # off: the collector as it was before issue 15 (Python's thresholds); on: the settings' own
                      "GC_THRESHOLDS": thresholds or ((700, 10, 10) if not freeze else DEFAULT_THRESHOLDS),
                      "INGEST_RATE_LIMIT_PER_MINUTE": 1_000_000, "ROSTER_SYNC_ON_LAUNCH": False})
    client, token, gallery = launch_teacher(app)
    with app.app_context():
        registration_id = dev_registration().id
        course_id = db.session.scalar(select(Course.id).where(Course.context_id == find_course("bio101").context_id))
        secret = tokens.create(registration_id, "bench")[1]
        db.session.commit()
    auth = {"X-Session-Token": token}
    plan = [("full page, last 30 days", gallery, auth),
            ("full page, last 12 months", gallery + "?range=last12m", auth),
            ("full page, since creation", gallery + "?range=creation", auth),
            ("report API user-engagement, 12 months",
             f"{BASE}/api/v1/reports/user-engagement?course={course_id}&range=last12m",
             {"Authorization": f"Bearer {secret}"})]
    if blocks:
        plan += [(f"block {block} (12 months)", gallery + "?range=last12m",
                  {**auth, "HX-Request": "true", "HX-Target": block}) for block in BLOCKS]
        audit = gallery.replace("/gallery/", "/embeds/audit")
        plan += [("embed audit page (12 months)", audit, auth),
                 ("embed audit, one domain drilled", audit + "?focus=canvas.umn.edu",
                  {**auth, "HX-Request": "true", "HX-Target": "audit"}),
                 ("domains block, page URLs of canvas.umn.edu", gallery + "?range=last12m&drill_domain=canvas.umn.edu",
                  {**auth, "HX-Request": "true", "HX-Target": "domains"})]
    collections = Collections()
    gc.callbacks.append(collections)
    rows = {label: timed(client, target, headers, requests) for label, target, headers in plan}
    gc.callbacks.remove(collections)
    print(json.dumps({"rows": rows, "collections": collections.counts, "full_ms": collections.full_ms, "gc_ms": collections.total_ms, "longest_ms": collections.longest_ms,
                      "frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="player events of the demo's semester")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per row (after 3 warm ones)")
    parser.add_argument("--no-blocks", dest="blocks", action="store_false", help="only the headline rows")
    parser.add_argument("--gc", choices=("on", "off", "both"), default="both", help="GC_FREEZE of the measured app")
    parser.add_argument("--thresholds", help="also measure GC_FREEZE=on with these GC_THRESHOLDS, e.g. 50000,20,100")
    parser.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if "bench" not in url.rsplit("/", 1)[-1]:
        sys.exit("DATABASE_URL must name a database whose name contains 'bench'")
    if args.child:
        thresholds = tuple(int(n) for n in args.thresholds.split(",")) if args.thresholds else ()
        run_child(url, args.child == "on", args.requests, args.blocks, thresholds)
        return
    from bench.seed import ensure_seeded, seeded_counts

    ensure_seeded(url, args.events)
    events, plays = seeded_counts(url)
    settings = ("off", "on") if args.gc == "both" else (args.gc,)
    if args.thresholds:
        settings += (f"on {args.thresholds}",)
    results = {}
    for setting in settings:
        freeze, _, thresholds = setting.partition(" ")
        command = [sys.executable, __file__, "--child", freeze, "--requests", str(args.requests)]
        command += [] if args.blocks else ["--no-blocks"]
        command += ["--thresholds", thresholds] if thresholds else []
        output = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ).stdout
        results[setting] = json.loads(output.strip().splitlines()[-1])
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"data: {events:,} player events, {plays:,} plays (after VACUUM ANALYZE); {args.requests} requests a row\n")
    header = f"{'request':44}" + "".join(f" {'p50':>7} {'p95':>7} {'p95/p50':>7} |" for _ in settings)
    print(" " * 44 + "".join(f" {'GC_FREEZE=' + s:^24.24}|" for s in settings))
    print(header)
    for label in results[settings[0]]["rows"]:
        line = f"{label:44}"
        for setting in settings:
            times = results[setting]["rows"][label]
            p50, p95 = percentile(times, 50), percentile(times, 95)
            line += f" {p50:7.1f} {p95:7.1f} {p95 / p50:7.2f} |"
        print(line)
    print()
    for setting in settings:
        r = results[setting]
        worst = max(r["full_ms"], default=0.0)
        headline = [percentile(r["rows"][label], 95) / percentile(r["rows"][label], 50) for label in HEADLINE]
        print(f"GC_FREEZE={setting}: {r['frozen']:,} objects frozen, {r['tracked']:,} tracked after the run; "
              f"collections during the timed requests: {r['collections'][0]} gen0, {r['collections'][1]} gen1, "
              f"{r['collections'][2]} gen2 (longest {worst:.1f} ms CPU; longest of any generation {r['longest_ms']:.1f}), "
              f"{r['gc_ms']:.0f} ms CPU in all; worst p95/p50 of the headline rows "
              f"{max(headline):.2f}, of every row {max(percentile(t, 95) / percentile(t, 50) for t in r['rows'].values()):.2f}; "
              f"mean of the 3 full pages {statistics.mean(statistics.mean(r['rows'][l]) for l in HEADLINE[:3]):.1f} ms")


if __name__ == "__main__":
    main()
