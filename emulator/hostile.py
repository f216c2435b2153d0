"""A hostile ARM: answers that try to take the caller's token elsewhere or trick it into another request.

Knobs under a cache's `x-emulator.hostile` (fleet.schema.json), each an attack from issue 11 that the
warden must refuse without sending anything it should not:

- `firewallNextLink`: `offHost` gives the firewall-rule list a `nextLink` on another origin (`localhost`
  instead of `127.0.0.1`, which this server also answers, so a client that follows it with its bearer
  token shows up in the request log at `/hostile/off-host-page`); `selfLoop` gives it a `nextLink` to the
  very page just served, for ever.
- `firewallRuleNames`: extra rules in that list, named as given (e.g. `..`), admitting every address: a
  client that deletes one by name sends `DELETE .../firewallRules/..`, which an HTTP stack normalises to
  `DELETE` of the cache itself.
- `privateEndpointIdOffHost`: every private endpoint id in the cache's GET body is prefixed with
  `@localhost:PORT`, so an id pasted after the endpoint URL turns `https://127.0.0.1:PORT` into user info
  and sends the request to `localhost`.
- `rateLimitHeaders`: throttling headers sent as given on every answer for the cache (a `Retry-After` of
  `inf`, `-5` or a year; a remaining count of `-1` or `abc`), with a `throttled` fault to make it a 429: a
  client that believes them sleeps for ever, crashes, or bursts (emulator.faults applies them).
- `listNextLink` (a cache or a cluster): `offHost` / `selfLoop` as `firewallNextLink`, on every list of
  caches (or clusters) by subscription or resource group that holds this one: the scan's own listing.
- `listAnswer: "malformed"` (a cache or a cluster): that listing answers 200 with `value` a string, not an
  array, so the SDK cannot deserialise the page.
- `getAnswer: "malformed"` (a cache): the cache's own GET answers 200 with `properties` a string, not an
  object, so nothing in it has the documented shape.
- `listExtraIds` (a cache or a cluster): that listing also holds items with exactly these ids (a name outside
  ARM's grammar, a cache in another resource group than the one listed).
- `databaseNames` (a cluster): extra databases in the cluster's database list, named as given (`default/../x`,
  `%2e%2e`, `a?b`, a 61-character name, a Cyrillic look-alike), each with the id `{cluster}/databases/{name}`.
- `databaseIds` (a cluster): extra databases with exactly these ids (another cluster's database, a `..`
  inside), named by the id's last segment.

Real ARM answers none of these; they exist to prove the defences (tests/arm/test_hostile_arm.py,
tests/arm/test_amr_hostile.py, tests/entry/test_hostile_listing.py).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from .calls import Call, Reply
from .handling import page

OFF_HOST_PATH = "/hostile/off-host-page"
KNOBS = ("firewallNextLink", "firewallRuleNames", "privateEndpointIdOffHost", "rateLimitHeaders", "listNextLink",
         "listAnswer", "getAnswer", "listExtraIds", "databaseNames", "databaseIds")


def _off_host(base_url: str) -> str:
    port = urlsplit(base_url).port
    return f"localhost:{port}"


def firewall_page(call: Call, cache_id: str, items: list[dict[str, Any]], knobs: Mapping[str, Any],
                  page_size: int) -> Reply:
    """The firewall-rule list as a hostile ARM would answer it (or as ARM does, with no knobs)."""
    extra = [
        {"id": f"{cache_id}/firewallRules/{name}", "name": name, "type": "Microsoft.Cache/Redis/firewallRules",
         "properties": {"startIP": "0.0.0.0", "endIP": "255.255.255.255"}}
        for name in knobs.get("firewallRuleNames", ())
    ]
    return _with_link(call, page(call, items + extra, page_size), knobs.get("firewallNextLink"))


def _with_link(call: Call, reply: Reply, link: object) -> Reply:
    if link == "selfLoop":
        reply.body["nextLink"] = f"{call.base_url}{call.path}?{urlencode(dict(call.query))}"
    elif link == "offHost":
        reply.body["nextLink"] = (f"https://{_off_host(call.base_url)}{OFF_HOST_PATH}?"
                                  f"{urlencode({'api-version': call.query.get('api-version', '')})}")
    return reply


def list_page(call: Call, items: list[dict[str, Any]], listed_knobs: Iterable[Mapping[str, Any]],
              page_size: int) -> Reply:
    """A list of caches or clusters by subscription or resource group; `listed_knobs` are the `hostile`
    knobs of every resource in it (the first `listNextLink` / `listAnswer` among them applies)."""
    knob_sets = list(listed_knobs)
    if any(k.get("listAnswer") == "malformed" for k in knob_sets):
        return Reply(200, {"value": "not-an-array"})
    template = {k: items[0][k] for k in ("type", "location") if k in items[0]} if items else {}
    extra = [{**template, "id": raw, "name": raw.rsplit("/", 1)[-1], "properties": {}}
             for k in knob_sets for raw in k.get("listExtraIds", ())]
    link = next((k["listNextLink"] for k in knob_sets if k.get("listNextLink")), None)
    return _with_link(call, page(call, items + extra, page_size), link)


def database_page(call: Call, cluster_id: str, items: list[dict[str, Any]], knobs: Mapping[str, Any],
                  page_size: int) -> Reply:
    """A cluster's database list with the crafted databases of `databaseNames` / `databaseIds` added."""
    template = copy.deepcopy(items[0]) if items else {"type": "Microsoft.Cache/redisEnterprise/databases",
                                                      "properties": {}}
    extra = [{**copy.deepcopy(template), "id": f"{cluster_id}/databases/{name}", "name": name}
             for name in knobs.get("databaseNames", ())]
    extra += [{**copy.deepcopy(template), "id": raw, "name": raw.rsplit("/", 1)[-1]}
              for raw in knobs.get("databaseIds", ())]
    return page(call, items + extra, page_size)


def cache_body(call: Call, body: dict[str, Any], knobs: Mapping[str, Any]) -> dict[str, Any]:
    """The cache's GET body with private endpoint ids rewritten when `privateEndpointIdOffHost` is set, or
    with `properties` a string when `getAnswer` is `malformed`."""
    if knobs.get("getAnswer") == "malformed":
        return {k: body[k] for k in ("id", "name", "type", "location") if k in body} | {"properties": "not-an-object"}
    if not knobs.get("privateEndpointIdOffHost"):
        return body
    out = copy.deepcopy(body)
    for conn in out.get("properties", {}).get("privateEndpointConnections") or ():
        pe = (conn.get("properties") or {}).get("privateEndpoint") or {}
        if isinstance(pe.get("id"), str):
            pe["id"] = f"@{_off_host(call.base_url)}{pe['id']}"
    return out
