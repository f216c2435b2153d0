"""Key-expiry sampling: what share of a cache's keys never expire, and under which key prefixes they sit.

Microsoft's Redis security guidance asks for expiration values on keys so data is removed automatically
(data minimisation, UK GDPR Art. 5(1)(e)). Whether keys have a TTL is visible without reading a single
value: SCAN walks the key space in batches and PTTL answers -1 (no expiry), -2 (gone since the SCAN) or the
milliseconds left. Nothing else is sent: no GET, DUMP, TYPE, OBJECT or MEMORY, so the data access policy the
warden needs grants `+scan +pttl` and nothing that reads data.

Bounded and paced: at most `max_keys` keys and `max_scan_calls` SCAN calls per cache, every command paid for
from a token bucket, so a sample costs a production cache a known, small number of commands a second.

What is reported is minimised too: counts, a share, and the first segment of key names (up to the first
`:`, `/` or `|`, at most `PREFIX_CHARS` characters). Key names often carry personal data
(`alice@example.com:cart`), so a segment is reported only when it looks like a namespace (a letter, then
letters, digits, `_` or `-`) and at least `min_keys_per_prefix` sampled keys share it; everything else is
counted under `NO_PREFIX` or `OTHER`, never by name.

A sample is of the node the client is connected to. With Azure Managed Redis's Enterprise cluster policy the
proxy walks every shard; with the OSS cluster policy or a clustered Premium cache it is one shard's keys,
which `SampleReport.scope` says.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from .ratelimit import TokenBucket

NO_PREFIX = "(no prefix)"
OTHER = "(other)"
PREFIX_CHARS = 32
_NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
TOP_PREFIXES = 10


class KeyspaceClient(Protocol):
    """The two calls sampling makes; `redis.Redis` provides them."""

    def scan(self, cursor: int = 0, match: Any = None, count: int | None = None, _type: Any = None) -> Any: ...
    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any: ...


@dataclass(frozen=True)
class SampleLimits:
    max_keys: int = 1000
    batch: int = 100  # SCAN COUNT hint and PTTL pipeline size
    max_scan_calls: int = 200  # SCAN may return empty batches on a sparse key space
    separators: str = ":/|"
    min_keys_per_prefix: int = 5  # rarer prefixes are folded into OTHER (they may be a person's name)

    def __post_init__(self) -> None:
        for name in ("max_keys", "batch", "max_scan_calls", "min_keys_per_prefix"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class PrefixCount:
    prefix: str
    without_ttl: int
    sampled: int


@dataclass(frozen=True)
class SampleReport:
    """The outcome of one sample. `share_without_ttl` is None when no key was sampled."""

    sampled: int
    without_ttl: int
    vanished: int  # keys SCAN returned that were gone (PTTL -2) by the time we asked
    top_prefixes: tuple[PrefixCount, ...]
    complete: bool  # SCAN's cursor came back to 0: every key of the node was seen
    scan_calls: int
    commands: int
    scope: str = "node"

    @property
    def share_without_ttl(self) -> float | None:
        return None if self.sampled == 0 else self.without_ttl / self.sampled

    def as_dict(self) -> dict[str, Any]:
        share = self.share_without_ttl
        return {
            "sampled": self.sampled,
            "without_ttl": self.without_ttl,
            "share_without_ttl": None if share is None else round(share, 4),
            "vanished": self.vanished,
            "complete": self.complete,
            "scan_calls": self.scan_calls,
            "commands": self.commands,
            "scope": self.scope,
            "top_prefixes": [
                {"prefix": p.prefix, "without_ttl": p.without_ttl, "sampled": p.sampled} for p in self.top_prefixes
            ],
        }


def key_prefix(key: bytes | str, separators: str = SampleLimits.separators) -> str:
    """The first segment of a key name when it looks like a namespace, shortened; `NO_PREFIX` when the key has
    no separator, `OTHER` when the segment is not a namespace (an address, a number, binary)."""
    text = key.decode("utf-8", "backslashreplace") if isinstance(key, bytes) else str(key)
    cut = min((i for i in (text.find(s) for s in separators) if i >= 0), default=-1)
    if cut < 0:
        return NO_PREFIX
    head = text[:cut]
    if not _NAMESPACE.match(head):
        return OTHER
    return head if len(head) <= PREFIX_CHARS else head[:PREFIX_CHARS] + "…"


def sample_key_expiry(client: KeyspaceClient, limits: SampleLimits, bucket: TokenBucket) -> SampleReport:
    """SCAN up to `limits.max_keys` keys and ask PTTL for each; never reads a value."""
    sampled = without = vanished = scan_calls = commands = 0
    per_prefix: Counter[str] = Counter()
    per_prefix_missing: Counter[str] = Counter()
    cursor = 0
    complete = False
    while sampled < limits.max_keys and scan_calls < limits.max_scan_calls:
        bucket.take(1)
        cursor, keys = client.scan(cursor=cursor, count=limits.batch)
        cursor = int(cursor)
        scan_calls += 1
        commands += 1
        keys = list(keys)[: limits.max_keys - sampled]
        if keys:
            bucket.take(len(keys))
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.pttl(key)
            ttls = pipe.execute()
            commands += len(keys)
            for key, ttl in zip(keys, ttls, strict=True):
                if int(ttl) == -2:
                    vanished += 1
                    continue
                prefix = key_prefix(key, limits.separators)
                sampled += 1
                per_prefix[prefix] += 1
                if int(ttl) == -1:
                    without += 1
                    per_prefix_missing[prefix] += 1
        if cursor == 0:
            complete = True
            break
    for prefix in [p for p, n in per_prefix.items() if n < limits.min_keys_per_prefix and p not in (NO_PREFIX, OTHER)]:
        per_prefix[OTHER] += per_prefix.pop(prefix)
        per_prefix_missing[OTHER] += per_prefix_missing.pop(prefix, 0)
    ranked = sorted(((p, n) for p, n in per_prefix_missing.items() if n), key=lambda kv: (-kv[1], kv[0]))
    ranked = ranked[:TOP_PREFIXES]
    return SampleReport(
        sampled=sampled,
        without_ttl=without,
        vanished=vanished,
        top_prefixes=tuple(PrefixCount(p, n, per_prefix[p]) for p, n in ranked),
        complete=complete,
        scan_calls=scan_calls,
        commands=commands,
    )
