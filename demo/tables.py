"""Plain-text tables for the demo's output (no dependency for something this small)."""

from __future__ import annotations

from collections.abc import Sequence


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], max_width: int = 60) -> None:
    cells = [[str(c)[:max_width] for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    print("   " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("   " + line)
    for row in cells:
        print("   " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    if not cells:
        print("   (none)")
