"""Tampering an attacker with write access to the storage could do, as functions over a chain's lines.

Each takes the stored lines (bytes, without newlines) of one chain and returns the altered lines. The
same functions are applied to the file sink and to append blobs, so both are held to the same checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from remediators.audit.canonical import canonical_json
from remediators.audit.schema import record_hash

Lines = list[bytes]


def _edit(line: bytes, rehash: bool, **changes: object) -> bytes:
    rec = json.loads(line)
    rec.update(changes)
    if rehash:
        rec["hash"] = record_hash(rec)
    return canonical_json(rec)


def edit_field(lines: Lines) -> Lines:
    return [*lines[:2], _edit(lines[2], False, rule="someone-else"), *lines[3:]]


def edit_and_rehash(lines: Lines) -> Lines:
    return [*lines[:2], _edit(lines[2], True, detail="nothing happened"), *lines[3:]]


def delete_middle(lines: Lines) -> Lines:
    return [*lines[:2], *lines[3:]]


def swap_two(lines: Lines) -> Lines:
    return [*lines[:2], lines[3], lines[2], *lines[4:]]


def duplicate_one(lines: Lines) -> Lines:
    return [*lines[:3], lines[2], *lines[3:]]


def delete_first(lines: Lines) -> Lines:
    return lines[1:]


def cut_tail(lines: Lines) -> Lines:
    return lines[:-2]


def rewrite_history(lines: Lines) -> Lines:
    """Edit a record and recompute every later hash and link: only a checkpoint can tell."""
    out: Lines = []
    prev_hash = None
    for n, line in enumerate(lines):
        rec = json.loads(line)
        if prev_hash is not None:
            rec["prev_hash"] = prev_hash
        if n == 2:
            rec["detail"] = "rewritten"
        rec["hash"] = record_hash(rec)
        prev_hash = rec["hash"]
        out.append(canonical_json(rec))
    return out


# name -> (tamper, expected problem kind, record named in the report)
CASES: dict[str, tuple[Callable[[Lines], Lines], str, str]] = {
    "edit-field": (edit_field, "edited", "#2"),
    "edit-and-rehash": (edit_and_rehash, "edited", "#2"),
    "delete-middle": (delete_middle, "deleted", "#3"),
    "swap-two": (swap_two, "reordered", "#3"),
    "duplicate-one": (duplicate_one, "duplicated", "#2"),
    "delete-first": (delete_first, "deleted", "#1"),
    "cut-tail": (cut_tail, "truncated", "#5"),
    # Signed records: the first re-hashed record's writer signature no longer matches (before v2 only the
    # checkpoint could tell, at #5).
    "rewrite-history": (rewrite_history, "edited", "#2"),
}
