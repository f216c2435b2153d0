"""Fault injection: what can go wrong between a client and ARM, reproducibly.

Two sources, both decided before a request reaches its handler (so an injected error changes no state):

- per-cache `x-emulator.faults` entries with a `preset` (throttled, internalError, unavailable, busy,
  scopeLocked, disallowedByPolicy, linkedAuthorizationFailed, reset, slow; `resource: asyncOperation` aims
  one at the status polls of the cache's PATCH operation), plus the cache knobs
  `deleteAfterRequests` (someone deletes the cache while it is being reconciled) and `lroFailures` (the
  next N long-running PATCHes end `Failed`). Entries with only a `status` stay with `Store.take_fault`.
- a fleet-wide `ChaosSpec(rate, seed)`: each request is faulted with probability `rate`, decided by a hash
  of (seed, method, path, how many times that method+path was seen), not by a shared random stream, so
  a run is reproducible whatever order concurrent workers' requests arrive in.

Optionally, `RateLimits` (emulator.throttling) keeps ARM's token buckets per subscription and principal
and sends `x-ms-ratelimit-remaining-subscription-*` on each answer; with `enforce=True` an empty bucket
answers ARM's 429 `SubscriptionRequestsThrottled` with Retry-After.
Wording of the refusals: emulator/README.md, "Faults".
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .provisioning import take_fault
from .store import CacheState, Store
from .throttling import RateLimits

PRESETS = (
    "throttled", "internalError", "unavailable", "busy", "scopeLocked", "disallowedByPolicy",
    "linkedAuthorizationFailed", "reset", "slow",
)
# Faults the chaos spec picks from by default: all transient, so a chaos run must still converge.
DEFAULT_MIX = ("throttled", "internalError", "unavailable", "busy", "reset")
WRITE_METHODS = frozenset({"PUT", "PATCH", "DELETE", "POST"})

_CACHE_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Cache/Redis/(?P<name>[^/]+)"
    r"(?P<rest>/.*)?$",
    re.IGNORECASE,
)
_SUBSCRIPTION = re.compile(r"^/subscriptions/(?P<sub>[^/]+)", re.IGNORECASE)
# The status URL of a cache's PATCH (Azure-AsyncOperation / Location of the recorded 202).
_OPERATION_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Cache/locations/[^/]+/asyncOperations/(?P<op>[^/]+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Injection:
    """What to do instead of (or before) serving a request.

    `error`: answer `status` with ARM's error body and `headers`; `reset`: close the connection with a TCP
    reset and no answer; `delay`: wait `delay_seconds`, then serve normally (a client whose read timeout is
    shorter gives up first, and the request may still take effect, as with ARM)."""

    action: str
    label: str  # recorded in the request log as `fault`
    status: int = 0
    code: str = ""
    message: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class ChaosSpec:
    """Fleet-wide faults: probability `rate` per request, reproducible from `seed`."""

    rate: float
    seed: int = 0
    mix: tuple[str, ...] = DEFAULT_MIX
    methods: frozenset[str] = frozenset({"GET", "PUT", "PATCH", "DELETE", "POST"})
    only_appids: frozenset[str] | None = None  # e.g. only the warden's calls; None = every caller
    retry_after: int = 1
    slow_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("ChaosSpec.rate must be between 0 and 1")
        unknown = set(self.mix) - set(PRESETS)
        if unknown or not self.mix:
            raise ValueError(f"ChaosSpec.mix must be a non-empty subset of {PRESETS}, not {sorted(unknown)}")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ChaosSpec:
        appids = raw.get("onlyAppids")
        return cls(
            rate=float(raw["rate"]),
            seed=int(raw.get("seed", 0)),
            mix=tuple(raw.get("mix", DEFAULT_MIX)),
            methods=frozenset(m.upper() for m in raw.get("methods", ("GET", "PUT", "PATCH", "DELETE", "POST"))),
            only_appids=frozenset(a.lower() for a in appids) if appids else None,
            retry_after=int(raw.get("retryAfter", 1)),
            slow_seconds=float(raw.get("slowSeconds", 2.0)),
        )


def unit_interval(*parts: object) -> float:
    """A reproducible number in [0, 1) from the parts (no process-salted `hash()`)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


# ---------------------------------------------------------------------------------------------- ARM's answers


def preset(name: str, *, resource_id: str, method: str, subscription_id: str, retry_after: int = 1,
           slow_seconds: float = 2.0, label: str | None = None) -> Injection:
    """The injection for a preset, with ARM's status, code, wording and headers."""
    tag = label or name
    write = method in WRITE_METHODS
    if name == "throttled":
        kind = "write" if write else "read"
        bucket = "writes" if write else "reads"
        return Injection(
            "error", tag, 429, "SubscriptionRequestsThrottled",
            f"Number of {kind} requests for subscription '{subscription_id}' exceeded the limit of "
            f"'{200 if write else 250}' for time interval '00:00:10'. Please try again after '{retry_after}' seconds.",
            {"Retry-After": str(retry_after), f"x-ms-ratelimit-remaining-subscription-{bucket}": "0"},
        )
    if name == "internalError":
        return Injection("error", tag, 500, "InternalServerError",
                         "Encountered internal server error. Diagnostic information: timestamp '', "
                         "subscription id '', tracking id '', request correlation id ''.")
    if name == "unavailable":
        return Injection("error", tag, 503, "ServiceUnavailable",
                         "The server (leader) is currently unable to receive requests. Please retry your request.",
                         {"Retry-After": str(retry_after)})
    if name == "busy":
        return Injection(
            "error", tag, 409, "Conflict",
            f"The resource '{resource_id}' is busy processing a previous update request or is undergoing system "
            "maintenance.  As such, it is currently unable to accept the update request.  Please try again later.",
            {"Retry-After": str(retry_after)},
        )
    if name == "scopeLocked":
        return Injection(
            "error", tag, 409, "ScopeLocked",
            f"The scope '{resource_id}' cannot perform write operation because following scope(s) are locked: "
            f"'{resource_id}'. Please remove the lock and try again.",
        )
    if name == "disallowedByPolicy":
        return Injection(
            "error", tag, 403, "RequestDisallowedByPolicy",
            f"Resource '{resource_id.rsplit('/', 1)[-1]}' was disallowed by policy. Policy identifiers: "
            "'[{\"policyAssignment\":{\"name\":\"deny-redis-changes\"}}]'.",
        )
    if name == "linkedAuthorizationFailed":
        return Injection(
            "error", tag, 403, "LinkedAuthorizationFailed",
            # Opening as Azure/OpenShift#41 quotes it (no client named), the rest as Azure/aad-pod-identity#613.
            "The client has permission to perform action 'Microsoft.Cache/redis/write' on scope "
            f"'{resource_id}'; however, it does not have permission to perform action "
            "'Microsoft.Network/virtualNetworks/subnets/join/action' on the linked scope(s) "
            f"'{resource_id.split('/providers/', 1)[0]}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/"
            "default' or the linked scope(s) are invalid.",
        )
    if name == "reset":
        return Injection("reset", tag)
    if name == "slow":
        return Injection("delay", tag, delay_seconds=slow_seconds)
    raise ValueError(f"unknown fault preset {name!r}; expected one of {PRESETS}")


def _resource_of(rest: str | None) -> str:
    """The fault `resource` a path below a cache belongs to (the names used by fleet.schema.json)."""
    tail = (rest or "").strip("/").lower()
    if not tail or tail == "listkeys":
        return "cache"
    head = tail.split("/", 1)[0]
    named = {"firewallrules": "firewallRules", "privateendpointconnections": "privateEndpointConnections",
             "linkedservers": "linkedServers"}
    if head in named:
        return named[head]
    if "diagnosticsettingscategories" in tail:
        return "diagnosticCategories"
    if "diagnosticsettings" in tail:
        return "diagnosticSettings"
    return "cache"


# ---------------------------------------------------------------------------------------------- injector


class FaultInjector:
    """Decides, per request, whether and how it fails. Thread-safe; counts under the store's lock."""

    def __init__(self, store: Store, chaos: ChaosSpec | None = None, rate_limits: RateLimits | None = None) -> None:
        self.store = store
        self.chaos = chaos
        self.rate_limits = rate_limits
        self._seen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self.injected: list[tuple[str, str, str]] = []  # (method, path, label), for tests and benchmarks

    def before(self, method: str, path: str, claims: Mapping[str, Any]) -> tuple[Injection | None, dict[str, str]]:
        """(the injection for this request or None, extra response headers)."""
        headers: dict[str, str] = {}
        sub = _SUBSCRIPTION.match(path)
        if self.rate_limits is not None and sub is not None:
            principal = str(claims.get("oid") or claims.get("appid") or "anonymous").lower()
            decision = self.rate_limits.decide(sub["sub"], principal, method)
            headers.update(decision.headers())
            if not decision.allowed and self.rate_limits.enforce:
                found = Injection("error", "rate-limit", 429, "SubscriptionRequestsThrottled",
                                  decision.message(sub["sub"], principal), headers)
                return self._note(method, path, found), headers
            headers.pop("Retry-After", None)
        found = self._cache_fault(method, path) or self._chaos(method, path, claims)
        headers.update(self._hostile_headers(path))
        return (self._note(method, path, found) if found else None), headers

    def _hostile_headers(self, path: str) -> dict[str, str]:
        """A hostile ARM's throttling headers for this cache (emulator.hostile `rateLimitHeaders`)."""
        match = _CACHE_PATH.match(path)
        if match is None:
            return {}
        with self.store.lock:
            state = self.store.find(match["sub"].lower(), match["rg"], match["name"])
            return dict(state.hostile.get("rateLimitHeaders") or {}) if state is not None else {}

    def _note(self, method: str, path: str, found: Injection) -> Injection:
        with self._lock:
            self.injected.append((method, path, found.label))
        return found

    def _cache_fault(self, method: str, path: str) -> Injection | None:
        match = _CACHE_PATH.match(path)
        if match is None:
            return self._operation_fault(method, path)
        resource = _resource_of(match["rest"])
        with self.store.lock:
            state = self.store.find(match["sub"].lower(), match["rg"], match["name"])
            if state is None:
                return None
            if _delete_if_due(self.store, state):
                return None  # the handler now answers 404 like ARM does for a deleted cache
            fault = take_fault(state.faults, method, resource, accept=lambda entry: "preset" in entry)
            if fault is not None:
                return preset(fault["preset"], resource_id=state.id, method=method,
                              subscription_id=state.subscription_id, retry_after=int(fault.get("retryAfter", 1)),
                              slow_seconds=float(fault.get("delaySeconds", 2.0)))
        return None

    def _operation_fault(self, method: str, path: str) -> Injection | None:
        """A preset the cache's `faults` aim at its operation's status polls (`resource: asyncOperation`,
        named explicitly: `*` entries keep meaning the cache and its children), e.g. a 429 or a reset on the
        poll of a PATCH ARM has already accepted."""
        match = _OPERATION_PATH.match(path)
        if match is None:
            return None
        with self.store.lock:
            op = self.store.operations.get(match["op"])
            state = self.store.caches.get(op.cache_key) if op is not None else None
            if state is None:
                return None
            fault = take_fault(state.faults, method, "asyncOperation",
                               accept=lambda entry: "preset" in entry and entry["resource"] == "asyncOperation")
            if fault is None:
                return None
            return preset(fault["preset"], resource_id=path, method=method, subscription_id=state.subscription_id,
                          retry_after=int(fault.get("retryAfter", 1)),
                          slow_seconds=float(fault.get("delaySeconds", 2.0)))

    def _chaos(self, method: str, path: str, claims: Mapping[str, Any]) -> Injection | None:
        spec = self.chaos
        if spec is None or spec.rate <= 0 or method not in spec.methods:
            return None
        if spec.only_appids is not None and str(claims.get("appid", "")).lower() not in spec.only_appids:
            return None
        key = (method, path.lower())
        with self._lock:
            nth = self._seen.get(key, 0)
            self._seen[key] = nth + 1
        if unit_interval(spec.seed, method, key[1], nth) >= spec.rate:
            return None
        usable = [m for m in spec.mix if not (m == "busy" and method not in WRITE_METHODS)] or list(spec.mix)
        name = usable[int(unit_interval(spec.seed, "kind", method, key[1], nth) * len(usable))]
        sub = _SUBSCRIPTION.match(path)
        match = _CACHE_PATH.match(path)
        resource_id = path[: match.start("rest")] if match is not None and match["rest"] else path
        return preset(name, resource_id=resource_id, method=method, subscription_id=sub["sub"] if sub else "",
                      retry_after=spec.retry_after, slow_seconds=spec.slow_seconds, label=f"chaos:{name}")


def _delete_if_due(store: Store, state: CacheState) -> bool:
    """`deleteAfterRequests: N`: after N requests for the cache, it is deleted (by someone else) before the
    next one is served. Call with the store's lock held."""
    if state.delete_after is None:
        return False
    state.requests_seen += 1
    if state.requests_seen <= state.delete_after:
        return False
    store.caches.pop(state.key, None)
    return True


def chaos_from(value: ChaosSpec | Mapping[str, Any] | None) -> ChaosSpec | None:
    if value is None or isinstance(value, ChaosSpec):
        return value
    return ChaosSpec.from_mapping(value)


def labels(injected: Iterable[tuple[str, str, str]]) -> dict[str, int]:
    """How many of each fault were injected, e.g. {'chaos:throttled': 12}."""
    out: dict[str, int] = {}
    for _, _, label in injected:
        out[label] = out.get(label, 0) + 1
    return out
