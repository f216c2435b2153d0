"""`report --out DIR [--month MM/YYYY] [--as-at DD/MM/YYYY]`: the CLI's entry to the monthly pack.

Same sources and the same refusals as the audit commands: a missing, empty or unreadable trail, a bad month
or date, or an output path that is a file exits 2 with one line on `err` and nothing written.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from ..audit.reader import open_source, require_trail
from .pack import build_pack, write_pack
from .period import period

EXIT_OK, EXIT_USAGE = 0, 2


def monthly_pack(
    *, out_dir: str, month: str | None = None, as_at: str | None = None, file: str | None = None,
    blob_service: Any = None, container: str = "audit", checkpoint_container: str = "audit-checkpoints",
    key_fingerprint: str | Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None,
    now: datetime | None = None,
) -> int:
    """Write the pack and print each file's path, the HTML page first. The exit code is 0 even when the
    trail fails verification: the pack says so in its first section (run `audit verify` to gate on it)."""
    fps = key_fingerprint.split(",") if isinstance(key_fingerprint, str) else key_fingerprint
    try:
        when = period(month, as_at, now)
        source = open_source(file=file, blob_service=blob_service, container=container,
                             checkpoint_container=checkpoint_container)
        require_trail(source)
        paths = write_pack(build_pack(source, when, key_fingerprints=fps, now=now), out_dir)
    except ValueError as exc:
        print(f"error: {exc}", file=err or sys.stderr)
        return EXIT_USAGE
    for path in paths:
        print(path, file=out or sys.stdout)
    return EXIT_OK
