"""The plain data passed between the HTTP layer and the ARM handlers, so handlers stay free of sockets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # as sent, without the query string
    query: Mapping[str, str]
    body: bytes
    base_url: str  # https://127.0.0.1:PORT, for nextLink / Location URLs


@dataclass(frozen=True)
class WriteEvent:
    """A successful write or delete that Event Grid would announce."""

    subject: str  # the written resource id, as the caller spelt it
    operation_name: str  # e.g. Microsoft.Cache/redis/firewallRules/write
    delete: bool


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    event: WriteEvent | None = None
