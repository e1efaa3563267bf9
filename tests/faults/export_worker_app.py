"""The app the export fault tests run `flask rq worker` with (FLASK_APP=tests.faults.export_worker_app).

It is `wsgi.py`'s production app (ProdConfig, from the environment) with two test-only changes:
- the job timings the test asks for (FAULT_JOB_SETTINGS: JSON, e.g. {"JOB_STALE_SECONDS": 4});
- after an export's file is written, its job writes its process id to FAULT_PAUSE_DIR/<export id>-<attempt>
  and pauses FAULT_EXPORT_PAUSE seconds before it ends the export, so the test knows which process is
  making which export and can kill it while the export is certainly under way.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

from lti_tool import create_app
from lti_tool.exports import tasks

app = create_app(json.loads(os.environ.get("FAULT_JOB_SETTINGS") or "{}"))
PAUSE = float(os.environ.get("FAULT_EXPORT_PAUSE") or 0)
PAUSE_DIR = Path(os.environ.get("FAULT_PAUSE_DIR") or ".")


def _paused(build):
    def build_then_pause(session, export, course, directory):
        path = build(session, export, course, directory)
        marker = PAUSE_DIR / f"{export.id}-{directory.name}"
        (PAUSE_DIR / f".{marker.name}").write_text(str(os.getpid()))
        (PAUSE_DIR / f".{marker.name}").rename(marker)  # whole, or not there at all
        time.sleep(PAUSE)
        return path
    return build_then_pause


for _name, _kind in list(tasks.KINDS.items()):
    tasks.KINDS[_name] = replace(_kind, build=_paused(_kind.build))
