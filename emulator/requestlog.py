"""Every request the emulator answered: in memory, over `GET /_emulator/requests`, and optionally as JSON
lines in a file so tests that run several processes against one emulator can read one log."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class RequestLog:
    def __init__(self, path: str | Path | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self.path = Path(path) if path else None

    def record(self, entry: Mapping[str, Any]) -> None:
        item = dict(entry)
        with self._lock:
            self._entries.append(item)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(item, sort_keys=True) + "\n")

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries]


def read_log_file(path: str | Path) -> list[dict[str, Any]]:
    """The entries another process appended with `--request-log PATH`."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
