"""A worker process for the crash-safety harness: the real function_app in the dev host, killed with
SIGKILL by the test at chosen moments.

Two settings are shortened so a dead worker's holds lapse within a bounded test: the queue message's
receive visibility (the Functions host holds a message for 10 minutes; here 10 s, after which the queue
redelivers it) and the per-cache blob lease (60 s in the app; here 15 s, Azure's minimum). Everything else
is the app as deployed. `python tests/reliability/crash_worker.py HOST_JSON`; settings from the environment.
"""

from __future__ import annotations

import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import function_app  # noqa: E402  (after the path is set)
import remediators.state.store  # noqa: E402
from devhost.host import DevHost  # noqa: E402

remediators.state.store.LEASE_SECONDS = 15


class CrashTestHost(DevHost):
    def _lease(self) -> timedelta:
        return timedelta(seconds=10)


def main() -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with CrashTestHost(function_app.app, host_json=sys.argv[1]):
        print("ready", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
