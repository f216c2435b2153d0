"""Azure Resource Graph over the emulated fleet: `POST /providers/Microsoft.ResourceGraph/resources`.

Evidence:
- REST spec azure-rest-api-specs `specification/resourcegraph/resource-manager/Microsoft.ResourceGraph/
  stable/2022-10-01/resourcegraph.json` (and 2024-04-01; the installed azure-mgmt-resourcegraph 8.0.1 sends
  2021-03-01): a tenant-level POST whose body is `QueryRequest {subscriptions, managementGroups, query,
  options {$top, $skip, $skipToken, resultFormat, allowPartialScopes}}`; the answer is `QueryResponse
  {totalRecords, count, resultTruncated, $skipToken, data, facets}`.
- Recordings azure-cli-extensions `src/resource-graph/azext_resourcegraph/tests/latest/recordings/`
  (`test_skip_token_query.yaml`, `test_query_error.yaml`): `resultTruncated` is the *string* "false",
  `facets: []`, a `$skipToken` while more rows remain; every answer carries `x-ms-user-quota-remaining`
  (e.g. 14 after the first query), `x-ms-user-quota-resets-after: 00:00:05` and
  `x-ms-ratelimit-remaining-tenant-resource-requests`; a query ARG cannot parse is 400 `BadRequest` with
  details `InvalidQuery` and `ParserFailure`.
- Microsoft Learn "Guidance for throttled requests in Azure Resource Graph": the quota is per user and per
  time window, e.g. 15 queries every 5 seconds; a throttled query answers 429 `RateLimiting` with
  `Retry-After` and `x-ms-user-quota-remaining: 0` (a 429 of that shape is quoted verbatim in public code).
- The root management group's id is the tenant id and holds every subscription of the tenant.

Only the KQL the warden sends is understood, and anything else is refused as ARG refuses what it cannot parse:
`resources | where type =~ 'a' [or type =~ 'b' ...]` or `where type in~ ('a', 'b')`, optionally followed by
`| project col, ...` and `| order by id asc`. Rows are the GET bodies of the caches, clusters and scheduled query
rules (public tools read `properties.enabled`, `properties.scopes`, `properties.criteria` and `tags` from such rule
rows; *third-party code, not a recording*) with ARG's extra columns
(`subscriptionId`, `resourceGroup`, `tenantId`) and the type lower-cased (*emulator: ARG's documentation shows
lower-case types; not verified against a recording here*).
"""

from __future__ import annotations

import base64
import copy
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .calls import Call, Reply

PATH = "/providers/microsoft.resourcegraph/resources"
API_VERSIONS = ("2021-03-01", "2022-10-01", "2024-04-01")
DEFAULT_PAGE = 100  # ARG's default $top when none is given
MAX_PAGE = 1000
_TYPE_EQ = re.compile(r"^type\s*=~\s*'([^']+)'$", re.IGNORECASE)
_TYPE_IN = re.compile(r"^type\s+in~\s*\(([^)]*)\)$", re.IGNORECASE)
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class UserQuota:
    """ARG's per-user quota: `queries` per `window_seconds`, windows starting at a user's first query."""

    queries: int = 15
    window_seconds: float = 5.0
    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, tuple[float, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    throttled: int = 0

    def take(self, user: str) -> tuple[bool, int, float]:
        """(allowed, remaining after this query, seconds until the window resets)."""
        with self._lock:
            now = self.clock()
            start, used = self._windows.get(user, (now, 0))
            if now - start >= self.window_seconds:
                start, used = now, 0
            resets = self.window_seconds - (now - start)
            if used >= self.queries:
                self.throttled += 1
                return False, 0, resets
            self._windows[user] = (start, used + 1)
            return True, self.queries - used - 1, resets


def hhmmss(seconds: float) -> str:
    whole = max(0, math.ceil(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class QueryError(ValueError):
    """A query outside the understood subset: ARG's 400 InvalidQuery."""


@dataclass(frozen=True)
class Query:
    types: frozenset[str]
    columns: tuple[str, ...] | None  # None: every column


def parse_query(text: str) -> Query:
    stages = [s.strip() for s in text.split("|")]
    if not stages or stages[0].lower() != "resources":
        raise QueryError("the query must start with the resources table")
    types: set[str] | None = None
    columns: tuple[str, ...] | None = None
    for stage in stages[1:]:
        head, _, rest = stage.partition(" ")
        rest = rest.strip()
        if head.lower() == "where" and types is None:
            types = set()
            for clause in re.split(r"\s+or\s+", rest, flags=re.IGNORECASE):
                clause = clause.strip()
                if clause.startswith("(") and clause.endswith(")"):
                    clause = clause[1:-1].strip()
                if (m := _TYPE_EQ.match(clause)) is not None:
                    types.add(m.group(1).lower())
                elif (m := _TYPE_IN.match(clause)) is not None:
                    names = [n.strip().strip("'") for n in m.group(1).split(",")]
                    if not all(names):
                        raise QueryError(f"empty type in {clause!r}")
                    types.update(n.lower() for n in names)
                else:
                    raise QueryError(f"unsupported where clause {clause!r}")
        elif head.lower() == "project" and columns is None:
            columns = tuple(c.strip() for c in rest.split(","))
            if not all(_COLUMN.match(c) for c in columns):
                raise QueryError(f"unsupported projection {rest!r}")
        elif stage.lower().replace("  ", " ") in ("order by id asc", "sort by id asc"):
            continue
        else:
            raise QueryError(f"unsupported stage {stage!r}")
    if not types:
        raise QueryError("the query must filter on type")
    return Query(frozenset(types), columns)


class ResourceGraphApi:
    """Resource Graph queries over the caches and clusters of the emulator's stores (rows read without
    advancing any provisioning sequence: ARG serves its own index, not the resource provider)."""

    def __init__(self, rows: Callable[[], Iterable[Mapping[str, Any]]], tenant_id: str, *,
                 management_groups: Mapping[str, Sequence[str]] | None = None,
                 quota: UserQuota | None = None, hostile_rows: Sequence[Mapping[str, Any]] = ()) -> None:
        self._rows = rows
        # A hostile index (tests only): rows answered as given, after the real ones, to every query whatever its
        # scope (real ARG answers none of them).
        self.hostile_rows = [dict(r) for r in hostile_rows]
        self.tenant_id = tenant_id.lower()
        self.management_groups = {k.lower(): tuple(s.lower() for s in v) for k, v in (management_groups or {}).items()}
        self.quota = quota or UserQuota()

    def handles(self, method: str, path: str) -> bool:
        return method == "POST" and path.rstrip("/").lower() == PATH

    def _subscriptions_of(self, group: str, every: set[str]) -> set[str]:
        if group.lower() == self.tenant_id:
            return every  # the tenant root group holds every subscription
        found = self.management_groups.get(group.lower())
        if found is None:
            raise QueryError(f"management group {group!r} not found or not accessible")
        return set(found)

    def query(self, call: Call, user: str, visible: Callable[[Mapping[str, Any]], bool] | None = None) -> Reply:
        """One query; `visible(row)` says whether the caller may read the row's resource (ARG returns only
        rows the caller has read access to)."""
        allowed, remaining, resets = self.quota.take(user)
        headers = {"x-ms-user-quota-remaining": str(remaining), "x-ms-user-quota-resets-after": hhmmss(resets),
                   "x-ms-ratelimit-remaining-tenant-resource-requests": str(remaining)}
        if not allowed:
            return Reply(429, _error("RateLimiting", "RateLimiting", "Client application has been throttled and "
                                     "should not attempt to repeat the request until an amount of time has "
                                     "elapsed. Please see https://aka.ms/resourcegraph-throttling for help."),
                         {**headers, "Retry-After": str(max(1, math.ceil(resets)))})
        if call.query.get("api-version") not in API_VERSIONS:
            return Reply(400, _error("BadRequest", "InvalidApiVersionParameter",
                                     f"The api-version '{call.query.get('api-version')}' is invalid. "
                                     f"The supported versions are '{', '.join(API_VERSIONS)}'."), headers)
        try:
            body = json.loads(call.body or b"{}")
            if not isinstance(body, dict) or not isinstance(body.get("query"), str):
                raise QueryError("the request body must be a QueryRequest with a query string")
            parsed = parse_query(body["query"])
            rows = [dict(r) for r in self._rows()]
            every = {str(r["subscriptionId"]).lower() for r in rows}
            scope: set[str] = set()
            for sub in body.get("subscriptions") or ():
                scope.add(str(sub).lower())
            for group in body.get("managementGroups") or ():
                scope |= self._subscriptions_of(str(group), every)
            if not body.get("subscriptions") and not body.get("managementGroups"):
                scope = every  # tenant scope: every subscription the caller can see
            options = body.get("options") or {}
            top, skip = _page(options)
        except (QueryError, json.JSONDecodeError, ValueError) as exc:
            return Reply(400, _error("BadRequest", "InvalidQuery", "Query is invalid. Please refer to the "
                                     f"documentation for the Azure Resource Graph service and fix the error "
                                     f"before retrying. ({exc})"), headers)
        matched = sorted((r for r in rows if r["type"] in parsed.types and str(r["subscriptionId"]).lower() in scope
                          and (visible is None or visible(r))), key=lambda r: str(r["id"]).lower())
        matched += [dict(r) for r in self.hostile_rows]
        page = matched[skip: skip + top]
        if parsed.columns is not None:
            page = [{c: r.get(c) for c in parsed.columns} for r in page]
        out: dict[str, Any] = {"totalRecords": len(matched), "count": len(page), "data": page, "facets": [],
                               "resultTruncated": "false"}
        if skip + top < len(matched):
            # The recorded token's shape (test_skip_token_query.yaml): "$id", MaxRows, RowsToSkip and the cluster
            # URL ARG keeps; a client must send it back as it came, never follow the URL.
            out["$skipToken"] = base64.b64encode(json.dumps({"$id": "1", "MaxRows": top, "RowsToSkip": skip + top,
                                                             "KustoClusterUrl": "https://arg-emulator.invalid"})
                                                 .encode()).decode()
        return Reply(200, out, headers)


def _page(options: Mapping[str, Any]) -> tuple[int, int]:
    top = int(options.get("$top") or DEFAULT_PAGE)
    skip = int(options.get("$skip") or 0)
    token = options.get("$skipToken")
    if token:
        try:
            decoded = json.loads(base64.b64decode(str(token), validate=True))
            skip, top = int(decoded["RowsToSkip"]), int(decoded.get("MaxRows", top))
        except (ValueError, KeyError, TypeError) as exc:
            raise QueryError("invalid $skipToken") from exc
    if not 1 <= top <= MAX_PAGE or skip < 0:
        raise QueryError(f"$top must be 1-{MAX_PAGE} and $skip not negative")
    return top, skip


def _error(code: str, detail_code: str, detail: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": "Please provide below info when asking for support: "
                      f"timestamp = {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}.",
                      "details": [{"code": detail_code, "message": detail}]}}


def fleet_rows(caches: Iterable[Mapping[str, Any]], tenant_id: str) -> list[dict[str, Any]]:
    """ARG rows for resource bodies (each with `id`, `type`, `properties`, ...)."""
    out = []
    for body in caches:
        parts = str(body["id"]).split("/")
        row = copy.deepcopy(dict(body))
        row["type"] = str(body.get("type", "")).lower()
        row.update(subscriptionId=parts[2], resourceGroup=parts[4], tenantId=tenant_id)
        out.append(row)
    return out
