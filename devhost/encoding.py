"""Queue message text <-> bytes exactly as `extensions.queues.messageEncoding` says.

A queue message travels as XML text. With `base64` (what Event Grid's storage-queue handler writes) the
text is the base64 of the payload; with `none` it is the payload itself. The real host decodes with .NET's
`Convert.FromBase64String`, which skips whitespace but rejects anything else outside the alphabet or with
bad padding; `decode` does the same so a message the real host cannot read is unreadable here too.
"""

from __future__ import annotations

import base64
import binascii
import re

_WHITESPACE = re.compile(r"[ \t\r\n]")


class UndecodableMessage(ValueError):
    """The message text is not valid for the configured encoding."""


def decode(text: str, encoding: str) -> bytes:
    if encoding == "none":
        return text.encode("utf-8")
    if encoding != "base64":
        raise ValueError(f"unknown message encoding {encoding!r}")
    compact = _WHITESPACE.sub("", text)
    if len(compact) % 4:
        raise UndecodableMessage("not valid base64: length is not a multiple of 4")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UndecodableMessage(f"not valid base64: {exc}") from exc


def encode(payload: bytes, encoding: str) -> str:
    if encoding == "none":
        return payload.decode("utf-8")
    if encoding != "base64":
        raise ValueError(f"unknown message encoding {encoding!r}")
    return base64.b64encode(payload).decode("ascii")
