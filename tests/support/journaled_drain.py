"""`flask ingest drain` that writes a journal of its batches, for tests that check no two drains store
one shard at the same time:

    python -m tests.support.journaled_drain JOURNAL ingest drain --batch 50

Each batch of a shard appends a line when it begins and one when it ends (wall-clock times, one
O_APPEND write each, so several drains may share the file):

    begin TOKEN SHARD TIME
    end   TOKEN SHARD TIME TAKEN     (committed and acknowledged)
    lost  TOKEN SHARD TIME           (the shard's lease was lost: nothing committed or acknowledged)

A drain killed mid-batch leaves a `begin` without its end. The drain itself is the product's, untouched.
"""
from __future__ import annotations

import os
import sys
import time


def main() -> None:
    from flask.cli import main as flask_main

    from lti_tool.ingest import beacon_queue

    journal = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    real = beacon_queue.Drainer.step_shard

    def note(*words) -> None:
        os.write(journal, (" ".join(str(w) for w in words) + "\n").encode())

    def step_shard(self, shard, wait_out_database=True):
        note("begin", self.token, shard.number, f"{time.time():.6f}")
        try:
            result = real(self, shard, wait_out_database)
        except beacon_queue.LeaseLost:
            note("lost", self.token, shard.number, f"{time.time():.6f}")
            raise
        note("end", self.token, shard.number, f"{time.time():.6f}", result.taken)
        return result

    beacon_queue.Drainer.step_shard = step_shard
    sys.argv = ["flask", *sys.argv[2:]]
    flask_main()


if __name__ == "__main__":
    main()
