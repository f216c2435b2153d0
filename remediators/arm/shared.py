"""Reads whose answer is the same for many caches, kept so that each is made once instead of once per cache.

Three kinds, each with its own lifetime (ARM state is never kept longer than the one read it stands for):
- per resource type, for the process (`TYPE_TTL_SECONDS`): the log categories a resource type offers for
  diagnostic settings. Azure Monitor documents them per resource type ("The following table lists the types
  of logs available for the Microsoft.Cache/redis resource type": ConnectedClientList,
  MSEntraAuthenticationAuditLog; learn.microsoft.com/azure/azure-monitor/reference/supported-logs/
  microsoft-cache-redis-logs), so `diagnosticSettingsCategories` answers the same for every cache of a type.
  If a category were ever missing on one cache, ARM refuses our PUT naming it (`blocked`, audited): nothing
  is widened and nothing is lost.
- per scan (`SCAN_TTL_SECONDS`, keyed by the scan id): lists of a whole scope that every cache of the scope
  filters from, e.g. a resource group's metric alert rules or a subscription's scheduled query rules. A new
  scan reads them again; an event never uses them (they are scan-only inputs, `remediators.inputs`).
- listed bodies (`LISTED_TTL_SECONDS`): the cache bodies a scan's listing returned, taken once by the first
  read of each cache (`take_listed`), so the listing is the snapshot and no per-cache GET is made.

Our own writes forget what they change (`forget`), so a confirming pass never reads a list we know is stale.
Thread-safe: the Functions host may run several invocations in one process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

TYPE_TTL_SECONDS = 6 * 3600.0
SCAN_TTL_SECONDS = 3600.0
LISTED_TTL_SECONDS = 3600.0
READ_WAIT_SECONDS = 120.0  # longest a caller waits for another's read of the same key before reading itself
MAX_ENTRIES = 50_000  # a bound on memory whatever a scope holds; the oldest entries go first


class SharedReads:
    """A small TTL store of reads shared between reconciles in one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._reading: dict[Hashable, threading.Event] = {}  # keys being read now, set when the read ends
        self.hits = 0  # reads saved (bench and tests look at it; never used to decide anything)

    def held(self, kind: str) -> int:
        """Entries of one kind (`type`, `scan`, `listed`) held now, expired ones included until next touched: the
        memory a scan keeps (bench and tests look at it; never used to decide anything)."""
        with self._lock:
            return sum(1 for k in self._entries if isinstance(k, tuple) and k[:1] == (kind,))

    def _get(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return False, None
            expires, value = found
            if expires <= self.clock():
                del self._entries[key]
                return False, None
            self.hits += 1
            return True, value

    def _put(self, key: Hashable, value: Any, ttl: float) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                now = self.clock()
                for k in [k for k, (exp, _) in self._entries.items() if exp <= now]:
                    del self._entries[k]
                while len(self._entries) >= MAX_ENTRIES:
                    del self._entries[next(iter(self._entries))]
            self._entries[key] = (self.clock() + ttl, value)

    def remember(self, key: Hashable, read: Callable[[], T], ttl: float) -> T:
        """The value kept under `key`, or `read()` kept for `ttl` seconds. A failed read keeps nothing (the
        next cache tries again and reports its own failure). Concurrent callers of one key wait for the first
        one's read instead of each making it (the host's workers started a scan with one diagnostic
        categories read each: 6 for one resource type in bench.fleet_scan --via queue)."""
        found, value = self._get(key)
        if found:
            return value  # type: ignore[no-any-return]
        with self._lock:
            running = self._reading.get(key)
            if running is None:
                self._reading[key] = threading.Event()
        if running is not None:
            running.wait(READ_WAIT_SECONDS)
            found, value = self._get(key)
            if found:
                return value  # type: ignore[no-any-return]
            # The first read failed (nothing kept): read again as the next caller; waited too long: read now.
            return self.remember(key, read, ttl) if running.is_set() else read()
        try:
            value = read()
            self._put(key, value, ttl)
            return value
        finally:
            with self._lock:
                self._reading.pop(key).set()

    def per_type(self, resource_type: str, what: str, read: Callable[[], T]) -> T:
        return self.remember(("type", resource_type.lower(), what), read, TYPE_TTL_SECONDS)

    def per_scan(self, scan_id: str | None, scope: tuple[str, ...], read: Callable[[], T]) -> T:
        """Shared by the caches of one scan; without a scan id (an event) every call reads."""
        if not scan_id:
            return read()
        return self.remember(("scan", scan_id, *(s.lower() for s in scope)), read, SCAN_TTL_SECONDS)

    def offer_per_scan(self, scan_id: str, scope: tuple[str, ...], value: Any) -> None:
        """A scope-wide list another read already made for this scan (e.g. a subscription's scheduled query
        rules from the scan's Resource Graph listing), as `per_scan` would have kept it."""
        self._put(("scan", scan_id, *(s.lower() for s in scope)), value, SCAN_TTL_SECONDS)

    def forget(self, scope: tuple[str, ...]) -> None:
        """Drop every per-scan entry for `scope` (in any scan): one of our writes changed it."""
        wanted = tuple(s.lower() for s in scope)
        with self._lock:
            for key in [k for k in self._entries if isinstance(k, tuple) and k[:1] == ("scan",)
                        and k[2:] == wanted]:
                del self._entries[key]

    def offer_listed(self, cache_key: str, body: Mapping[str, Any]) -> None:
        """A cache body as a listing returned it, for the cache's first read in this process."""
        self._put(("listed", cache_key.lower()), body, LISTED_TTL_SECONDS)

    def take_listed(self, cache_key: str) -> Mapping[str, Any] | None:
        """The listed body of a cache, once: a second read of the same cache goes to ARM."""
        with self._lock:
            found = self._entries.pop(("listed", cache_key.lower()), None)
            if found is None or found[0] <= self.clock():
                return None
            self.hits += 1
            return found[1]  # type: ignore[no-any-return]
