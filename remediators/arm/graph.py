"""Enumerate caches across several subscriptions or a management group with Azure Resource Graph.

One query (`azure-mgmt-resourcegraph`, `POST /providers/Microsoft.ResourceGraph/resources`, REST spec
azure-rest-api-specs `specification/resourcegraph/resource-manager/Microsoft.ResourceGraph/stable/2022-10-01/
resourcegraph.json`) lists the caches of both kinds over the whole scope, 1,000 rows a page, instead of two ARM
list calls per subscription that each spend the subscription's read bucket. ARG has its own per-user quota,
sent on every answer as `x-ms-user-quota-remaining` and `x-ms-user-quota-resets-after: hh:mm:ss` (recorded in
azure-cli-extensions `src/resource-graph/.../recordings/test_skip_token_query.yaml`; kept as
tests/conformance/fixtures/resource_graph_skip_token.json):

- a page answered with the quota spent waits until it resets before asking for the next (bounded);
- a 429 is retried by `GraphRetryPolicy` after the longer of Retry-After and the reset time, a few times and
  only for short waits, otherwise it surfaces as `throttled`;
- paging follows `$skipToken` (opaque: ARG's token carries a cluster URL, which is never followed; it is only
  sent back in the next body) within bounds on pages, rows and token length, and a token seen before stops it.

Every row is hostile input (`cache_from_row`): its id must be a cache id by ARM's grammar
(`resource_ids.parse_cache_id`), its `type`, `subscriptionId` and `resourceGroup` columns must agree with the
id, its subscription must be in the scope asked for (and in WARDEN_SUBSCRIPTIONS), and an id may come once.
Refused rows are returned with the reason, never acted on. `resultTruncated: "true"` means ARG cut the answer:
the listing is refused as a whole, like a list cut at a paging bound.

Rows are the resources' ARM bodies as ARG indexes them (properties included). An Azure Cache for Redis row
that carries what the rules need (`bodies.listed_body_usable`) is offered to the scan as that cache's listed body
(`SharedReads.offer_listed`, as an ARM list item is), so an in-process scan reads no per-cache GET; any other
cache is read with a GET. ARG's index trails ARM's by the time it takes to take in a change, so a listed body can
be that much older than a GET: the engine never writes from a listed body (a pass that would write is dropped
and the cache re-read with a GET under its lease), and drift newer than the index is still fixed on its event.

When the baseline judges log alert rules (auth-alerts), a scan of several subscriptions also lists the scheduled
query rules of the whole scope with one more query (`list_log_alert_rules`) instead of one ARM list per
subscription, each subscription's rules offered to the scan (`SharedReads.offer_per_scan`) as its ARM list would
be. ARG indexes scheduled query rules with their properties: public tools query `resources | where type =~
'microsoft.insights/scheduledqueryrules'` and read `properties.enabled`, `properties.scopes`,
`properties.criteria.allOf[].query` and `tags` (*third-party code, not a recording*). The same index lag applies:
auth-alerts is detect-only (nothing is written from it), and a rule created since the index last caught up is
seen by the next scan.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.pipeline import PipelineResponse
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from ..models import LogAlertRule
from ..resource_ids import CacheKind, FleetScope, InvalidResourceId, ResourceId, parse_cache_id
from .bodies import listed_body_usable
from .errors import ArmError
from .monitor import log_alert_rule
from .pipeline import ArmRetryPolicy, ArmSession
from .shared import SharedReads

# ARG authorises a query as this operation; rows are those the caller may read (Microsoft.Cache/.../read).
ACTIONS = frozenset({"Microsoft.ResourceGraph/resources/read"})

QUERY = ("resources | where type in~ ('microsoft.cache/redis', 'microsoft.cache/redisenterprise') "
         "| order by id asc")
LOG_ALERT_QUERY = "resources | where type =~ 'microsoft.insights/scheduledqueryrules' | order by id asc"
LOG_ALERT_TYPE = "microsoft.insights/scheduledqueryrules"
# A scheduled query rule's id as ARM spells it (Microsoft.Insights/scheduledQueryRules is a resource-group
# resource, bicep-types monitor 2023-12-01); the name is only kept to one printable path segment: the id is
# quoted on the record and compared, never sent anywhere.
_RULE_ID = re.compile(r"^/subscriptions/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
                      r"/resourceGroups/([-\w.()]{1,90})/providers/Microsoft\.Insights/scheduledQueryRules/"
                      r"([^/\s][^/]{0,259})$", re.IGNORECASE)
PAGE_ROWS = 1000  # the spec's maximum $top
MAX_PAGES = 50
MAX_ROWS = 20_000
MAX_SKIP_TOKEN = 4096
MAX_QUOTA_WAIT = 10.0  # ARG's windows are seconds long (5 s in the recordings); longer is not waited for here
REFUSED_KEPT = 20  # refusals kept with their reason (the count is always complete)
_HHMMSS = re.compile(r"^(\d{1,2}):([0-5]\d):([0-5]\d)$")
_TYPES = {kind.value.lower(): kind for kind in CacheKind}
_ARG_COLUMNS = frozenset({"subscriptionId", "resourceGroup", "tenantId"})


def parse_resets_after(value: str | None) -> float | None:
    """Seconds from `x-ms-user-quota-resets-after` (`hh:mm:ss`), None when absent or not that shape."""
    m = _HHMMSS.match(value or "")
    if m is None:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))


def parse_remaining(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) <= 9 else None


class GraphRetryPolicy(ArmRetryPolicy):
    """ArmRetryPolicy for ARG: a throttled query waits for the user quota to reset, when ARG says so in
    `x-ms-user-quota-resets-after` and that is longer than Retry-After; still only short waits."""

    def get_retry_after(self, response: PipelineResponse[Any, Any]) -> float | None:
        headers = response.http_response.headers
        waits = [w for w in (super().get_retry_after(response), parse_resets_after(
            headers.get("x-ms-user-quota-resets-after"))) if w is not None]
        return max(waits) if waits else None

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        resets = parse_resets_after(response.http_response.headers.get("x-ms-user-quota-resets-after"))
        if response.http_response.status_code == 429 and resets is not None and resets > self.max_retry_after:
            return False
        return super().is_retry(settings, response)


@dataclass(frozen=True)
class ListedCache:
    """A cache a row named. The row itself is not kept: at 10,000 caches the bodies would cost more memory
    than the scan (bench/fleet_scan.py), and the scan reads each cache from ARM anyway."""

    cache: ResourceId


@dataclass(frozen=True)
class RefusedRow:
    reason: str
    row_id: str  # the row's id as sent, shortened and printable only (it may be anything)


@dataclass(frozen=True)
class LogAlertListing:
    """The scheduled query rules of each subscription asked for (a subscription with none has `()`), and the
    rows refused (not a scheduled query rule id by ARM's grammar, columns that disagree, outside the scope)."""

    by_subscription: Mapping[str, tuple[LogAlertRule, ...]]
    refused: tuple[RefusedRow, ...]
    refused_count: int


@dataclass(frozen=True)
class GraphListing:
    caches: tuple[ListedCache, ...]
    refused: tuple[RefusedRow, ...]
    refused_count: int
    pages: int
    quota_waits: int  # pages that waited for ARG's user quota to reset


@dataclass
class _Paging:
    """Pages asked for and quota waits of one query (counted as the rows are handed on)."""

    pages: int = 0
    waits: int = 0


class InvalidRow(ValueError):
    """A Resource Graph row that is not one of our caches in scope; the message says why."""


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(type(value).__name__)
    text = "".join(ch if ch.isascii() and ch.isprintable() else "?" for ch in text)
    return text if len(text) <= 300 else text[:300] + "..."


def cache_from_row(row: object, allowed: frozenset[str]) -> ListedCache:
    """One row, strictly: a cache id by ARM's grammar, columns that agree with it, a subscription in
    `allowed` (lower-case ids). Raises InvalidRow."""
    if not isinstance(row, dict):
        raise InvalidRow("row is not a JSON object")
    try:
        cache = parse_cache_id(row.get("id"))
    except InvalidResourceId as exc:
        raise InvalidRow(f"id: {exc}") from None
    kind = _TYPES.get(str(row.get("type", "")).lower()) if isinstance(row.get("type"), str) else None
    if kind is not cache.kind:
        raise InvalidRow("type column does not match the id's resource type")
    sub = row.get("subscriptionId")
    if sub is not None and (not isinstance(sub, str) or sub.lower() != cache.subscription_id):
        raise InvalidRow("subscriptionId column does not match the id")
    rg = row.get("resourceGroup")
    if rg is not None and (not isinstance(rg, str) or rg.lower() != cache.resource_group.lower()):
        raise InvalidRow("resourceGroup column does not match the id")
    if "properties" in row and not isinstance(row["properties"], dict):
        raise InvalidRow("properties is not an object")
    if cache.subscription_id not in allowed:
        raise InvalidRow(f"subscription {cache.subscription_id} is outside the scan's scope")
    return ListedCache(cache)


def rule_from_row(row: object, allowed: frozenset[str]) -> tuple[str, LogAlertRule]:
    """(lower-case subscription id, rule) of one scheduled query rule row, strictly. Raises InvalidRow."""
    if not isinstance(row, dict):
        raise InvalidRow("row is not a JSON object")
    m = _RULE_ID.match(row.get("id")) if isinstance(row.get("id"), str) else None
    if m is None or not row["id"].isascii() or not row["id"].isprintable():
        raise InvalidRow("id: not a scheduled query rule id by ARM's grammar")
    sub = m.group(1).lower()
    if str(row.get("type", "")).lower() != LOG_ALERT_TYPE:
        raise InvalidRow("type column does not match the id's resource type")
    column = row.get("subscriptionId")
    if column is not None and (not isinstance(column, str) or column.lower() != sub):
        raise InvalidRow("subscriptionId column does not match the id")
    if not isinstance(row.get("properties"), dict):
        raise InvalidRow("properties is not an object")
    if sub not in allowed:
        raise InvalidRow(f"subscription {sub} is outside the scan's scope")
    return sub, log_alert_rule(row)


class ResourceGraph:
    """ARG queries through one ResourceGraphClient (tenant-level: no subscription), built once with the
    session's policies and `GraphRetryPolicy`."""

    def __init__(self, session: ArmSession, *, sleep: Callable[[float], None] = time.sleep,
                 max_quota_wait: float = MAX_QUOTA_WAIT, shared: SharedReads | None = None) -> None:
        self.session = session
        self.shared = shared
        self.sleep = sleep
        self.max_quota_wait = max_quota_wait
        self._client: ResourceGraphClient | None = None
        self._lock = threading.Lock()

    def client(self) -> ResourceGraphClient:
        with self._lock:
            if self._client is None:
                s = self.session
                kwargs = s.client_kwargs()
                kwargs["retry_policy"] = GraphRetryPolicy(self.max_quota_wait, retry_total=3, retry_backoff_factor=0.5,
                                                          retry_backoff_max=self.max_quota_wait)
                self._client = ResourceGraphClient(s.credential, **kwargs)
            return self._client

    def list_caches(self, scope: FleetScope, allowed: frozenset[str]) -> GraphListing:
        """Every cache row of the scope, page by page; rows off `allowed` (lower-case subscription ids) or
        outside ARM's grammar are refused. Raises ArmError (a cut, truncated or unreadable answer included)."""
        caches: list[ListedCache] = []
        refused: list[RefusedRow] = []
        refused_count = 0
        seen_ids: set[str] = set()
        paging = _Paging()
        for row in self._rows(QUERY, scope, paging):
            try:
                listed = cache_from_row(row, allowed)
                if listed.cache.key in seen_ids:
                    raise InvalidRow("the same id came twice")
            except InvalidRow as exc:
                refused_count += 1
                if len(refused) < REFUSED_KEPT:
                    refused.append(RefusedRow(str(exc), _shown(row.get("id") if isinstance(row, dict) else row)))
                continue
            seen_ids.add(listed.cache.key)
            caches.append(listed)
            self._offer(listed.cache, row)
        return GraphListing(tuple(caches), tuple(refused), refused_count, paging.pages, paging.waits)

    def list_log_alert_rules(self, scope: FleetScope, allowed: frozenset[str]) -> LogAlertListing:
        """The scheduled query rules of every subscription in the scope (those of `allowed` for a management
        group), one query however many subscriptions; rows are refused as `rule_from_row` says. Raises
        ArmError like `list_caches`."""
        wanted = [s.lower() for s in scope.subscriptions] if scope.subscriptions else sorted(allowed)
        found: dict[str, list[LogAlertRule]] = {sub: [] for sub in wanted if sub in allowed}
        refused: list[RefusedRow] = []
        refused_count = 0
        seen: set[str] = set()
        for row in self._rows(LOG_ALERT_QUERY, scope, _Paging()):
            try:
                sub, rule = rule_from_row(row, frozenset(found))
                if rule.id.lower() in seen:
                    raise InvalidRow("the same id came twice")
            except InvalidRow as exc:
                refused_count += 1
                if len(refused) < REFUSED_KEPT:
                    refused.append(RefusedRow(str(exc), _shown(row.get("id") if isinstance(row, dict) else row)))
                continue
            seen.add(rule.id.lower())
            found[sub].append(rule)
        return LogAlertListing({sub: tuple(rules) for sub, rules in found.items()}, tuple(refused), refused_count)

    def _rows(self, query: str, scope: FleetScope, paging: _Paging) -> Iterator[Any]:
        """The rows of one query over the scope, page by page within the paging bounds (each page's rows are
        handed on before the next is asked for, so only one page is held here)."""
        client = self.client()
        request: dict[str, Any] = {"query": query}
        if scope.management_group is not None:
            request["management_groups"] = [scope.management_group.name]
        else:
            request["subscriptions"] = list(scope.subscriptions)
        seen_tokens: set[str] = set()
        token: str | None = None
        rows = 0
        while True:
            if paging.pages >= MAX_PAGES:
                raise ArmError("blocked", f"Resource Graph: more than {MAX_PAGES} pages", code="PagingCut")
            options = QueryRequestOptions(top=PAGE_ROWS, skip_token=token, result_format="objectArray",
                                          allow_partial_scopes=False)
            body, headers = self.session.call(lambda o=options: client.resources(
                QueryRequest(**request, options=o), cls=_raw, **self.session.timeouts))
            paging.pages += 1
            data, token = _page(body)
            rows += len(data)
            if rows > MAX_ROWS:
                raise ArmError("blocked", f"Resource Graph: more than {MAX_ROWS} rows", code="PagingCut")
            yield from data
            if token is None:
                return
            if token in seen_tokens:
                raise ArmError("blocked", f"Resource Graph: $skipToken repeats after {paging.pages} page(s)",
                               code="PagingCut")
            seen_tokens.add(token)
            if self._wait_for_quota(headers):
                paging.waits += 1

    def _offer(self, cache: ResourceId, row: Mapping[str, Any]) -> None:
        """A Redis row that can stand for the cache's GET, as ARM spells the body (ARG lower-cases `type` and
        adds columns of its own)."""
        if self.shared is None or cache.kind is not CacheKind.REDIS:
            return
        body = {k: v for k, v in row.items() if k not in _ARG_COLUMNS}
        body["type"] = f"Microsoft.Cache/{cache.kind.arm_type_segment}"
        if listed_body_usable(cache, body):
            self.shared.offer_listed(cache.key, body)

    def _wait_for_quota(self, headers: Mapping[str, str]) -> bool:
        """Before the next page: when ARG said the user quota is spent, wait for it to reset (bounded)."""
        if parse_remaining(headers.get("x-ms-user-quota-remaining")) != 0:
            return False
        resets = parse_resets_after(headers.get("x-ms-user-quota-resets-after"))
        if resets is None or resets > self.max_quota_wait:
            raise ArmError("throttled", "Resource Graph user quota spent and not resetting soon",
                           code="RateLimiting", retry_after=resets)
        self.sleep(resets)
        return True


def _raw(response: PipelineResponse[Any, Any], _deserialized: Any, _headers: Any) -> tuple[Any, dict[str, str]]:
    """`cls=` hook: ARG's JSON as sent, and the quota headers."""
    http = response.http_response
    text = http.text()
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    keep = ("x-ms-user-quota-remaining", "x-ms-user-quota-resets-after")
    return body, {k: http.headers[k] for k in keep if k in http.headers}


def _page(body: Any) -> tuple[list[Any], str | None]:
    """(rows, next $skipToken) of one QueryResponse, refusing an answer that is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ArmError("invalid", "Resource Graph answer is not a QueryResponse with an object array",
                       code="InvalidListAnswer")
    if str(body.get("resultTruncated", "false")).lower() != "false":
        raise ArmError("blocked", "Resource Graph truncated the result", code="ResultTruncated")
    token = body.get("$skipToken")
    if token is None or token == "":
        return body["data"], None
    if not isinstance(token, str) or len(token) > MAX_SKIP_TOKEN or not token.isascii() or not token.isprintable():
        raise ArmError("blocked", "Resource Graph $skipToken is not a short printable string", code="PagingCut")
    return body["data"], token


__all__ = ["ACTIONS", "GraphListing", "GraphRetryPolicy", "InvalidRow", "ListedCache", "LogAlertListing", "RefusedRow",
           "ResourceGraph", "cache_from_row", "rule_from_row"]
