"""The one error a baseline document can raise, always naming the field at fault."""

from __future__ import annotations

from collections.abc import Iterable


def pointer(parts: Iterable[str | int]) -> str:
    """RFC 6901 JSON pointer for a path inside the document ("" is the whole document)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class BaselineError(ValueError):
    """The baseline document is unusable; nothing of it was applied.

    `path` is the JSON pointer of the offending field so that an operator (or a CI check on the baseline
    repository) can go straight to it; the message starts with it too.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.detail = message
        super().__init__(f"{path or '/'}: {message}")
