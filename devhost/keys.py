"""Function-key authorisation with the Functions host's rules.

`function` level accepts a function key or the master key; `admin` level (and every `/admin/` API)
accepts only the master key; `anonymous` needs none. A key comes from the `x-functions-key` header or
the `code` query parameter. The host answers a missing and a wrong key alike with 401 (its invocation
middleware returns UnauthorizedResult whenever authorisation fails), so callers learn nothing from the
difference.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

KEY_HEADER = "x-functions-key"
KEY_PARAM = "code"


def new_key() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Keys:
    function_key: str
    master_key: str

    def __post_init__(self) -> None:
        if not self.function_key or not self.master_key:
            raise ValueError("function and master keys must be non-empty")


def presented_key(headers: Mapping[str, str], params: Mapping[str, str]) -> str | None:
    for name, value in headers.items():
        if name.lower() == KEY_HEADER:
            return value
    return params.get(KEY_PARAM)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def authorised(level: str, presented: str | None, keys: Keys) -> bool:
    if level == "anonymous":
        return True
    if presented is None:
        return False
    if _same(presented, keys.master_key):
        return True
    return level == "function" and _same(presented, keys.function_key)
