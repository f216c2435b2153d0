"""What changed between two baseline documents, for the `baseline-changed` audit record.

Paths are JSON pointers into the documents. Lists are compared position by position (a reviewer reads the
document in order); an added or removed tail item is reported as such.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .document import thaw
from .errors import pointer

_MISSING = object()


def _walk(old: Any, new: Any, path: list[str | int], out: list[dict[str, Any]]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            _walk(old.get(key, _MISSING), new.get(key, _MISSING), [*path, key], out)
        return
    if isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            _walk(old[i] if i < len(old) else _MISSING, new[i] if i < len(new) else _MISSING, [*path, i], out)
        return
    if old is _MISSING:
        out.append({"path": pointer(path), "op": "add", "old": None, "new": new})
    elif new is _MISSING:
        out.append({"path": pointer(path), "op": "remove", "old": old, "new": None})
    elif old != new or type(old) is not type(new):
        out.append({"path": pointer(path), "op": "replace", "old": old, "new": new})


def diff_baselines(old: Any, new: Any) -> list[dict[str, Any]]:
    """Changes from `old` to `new` (Baselines or raw documents): [{"path", "op", "old", "new"}]."""
    old_doc = thaw(getattr(old, "document", old))
    new_doc = thaw(getattr(new, "document", new))
    if not isinstance(old_doc, Mapping) or not isinstance(new_doc, Mapping):
        raise TypeError("diff_baselines compares baseline documents (objects)")
    out: list[dict[str, Any]] = []
    _walk(old_doc, new_doc, [], out)
    return out
