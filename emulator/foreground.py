"""Run a constructed `EmulatorServer` in the foreground of a process until SIGTERM/SIGINT.

Both `python -m emulator` and the benchmarks' emulator process are driven by a parent that reads one JSON
ready line from stdout and stops the child with a signal; one implementation keeps that contract identical.
"""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType

from .server import EmulatorServer


def serve_until_signalled(server: EmulatorServer) -> None:
    """Start the server, print its ready line (flushed, so a parent blocked on it goes on), serve until
    SIGTERM or SIGINT, then stop it."""
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with server:
        print(json.dumps(server.ready_line()), flush=True)
        stop.wait()
