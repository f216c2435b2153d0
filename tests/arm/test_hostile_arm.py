"""A hostile ARM (emulator/hostile.py knobs) against the real SDK clients: the identity's token never
leaves WARDEN_ARM_ENDPOINT, ids from ARM are parsed strictly before they become URLs, paging is bounded,
and names outside ARM's grammar are never sent. Each attack below worked before issue 11 (the token went
to `localhost`, the self-referencing page was read for ever, `DELETE .../firewallRules/..` was sent).

Only our emulator answers this way; real ARM gives none of these answers, so these tests prove our
defences, not anything about Azure.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.transport import HttpRequest
from azure.identity import ManagedIdentityCredential

from emulator.hostile import OFF_HOST_PATH
from emulator.server import EmulatorServer
from emulator.testing import cache_id, running_emulator, sample_cache
from remediators.arm.endpoint import (
    EndpointPinnedAuthenticationPolicy,
    OffEndpointRequest,
    PagingCut,
    bounded_pages,
    same_origin,
)
from remediators.arm.gateway import ArmError, Gateway
from remediators.models import DeleteFirewallRule
from remediators.resource_ids import InvalidResourceId, parse_cache_id, parse_private_endpoint_id

OFFICE = ("office", "81.2.69.0", "81.2.69.255")
PE = ("/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11/resourceGroups/rg-net/providers/Microsoft.Network/"
      "privateEndpoints/pe1")


def _fleet() -> list[dict[str, Any]]:
    conn = {"id": cache_id("pe-off-host") + "/privateEndpointConnections/pe1",
            "properties": {"privateEndpoint": {"id": PE},
                           "privateLinkServiceConnectionState": {"status": "Approved"},
                           "provisioningState": "Succeeded"}}
    return [
        sample_cache("link-off-host", firewall_rules=[OFFICE], knobs={"hostile": {"firewallNextLink": "offHost"}}),
        sample_cache("link-loop", firewall_rules=[OFFICE], knobs={"hostile": {"firewallNextLink": "selfLoop"}}),
        sample_cache("dot-dot", firewall_rules=[OFFICE], knobs={"hostile": {"firewallRuleNames": [".."]}}),
        sample_cache("pe-off-host", properties={"privateEndpointConnections": [conn]}, firewall_rules=[OFFICE],
                     knobs={"hostile": {"privateEndpointIdOffHost": True}}),
        sample_cache("bad-shape", firewall_rules=[OFFICE], knobs={"hostile": {"getAnswer": "malformed"}}),
    ]


@pytest.fixture(scope="module")
def hostile() -> Iterator[EmulatorServer]:
    with running_emulator(_fleet()) as server:
        yield server


@pytest.fixture
def gateway(hostile: EmulatorServer) -> Gateway:
    return Gateway(hostile.arm_endpoint, ManagedIdentityCredential(), timeout=10, lro_wait_seconds=5,
                   polling_interval=0.0)


def _cid(name: str) -> Any:
    return parse_cache_id(cache_id(name))


def _requests(server: EmulatorServer, fragment: str) -> list[dict[str, Any]]:
    return [r for r in server.requests() if fragment.lower() in r["path"].lower()]


def test_a_next_link_off_the_endpoint_is_refused_before_the_token_is_sent(
    gateway: Gateway, hostile: EmulatorServer
) -> None:
    with pytest.raises(ArmError) as info:
        gateway.read(_cid("link-off-host"))
    assert info.value.kind == "blocked" and info.value.code == "OffEndpointRequest"
    assert "localhost" in info.value.message and "no token was sent" in info.value.message
    # The emulator also answers `localhost`: had the link been followed, the request would be logged.
    assert _requests(hostile, OFF_HOST_PATH) == []


def test_a_self_referencing_next_link_is_cut_not_followed_for_ever(gateway: Gateway, hostile: EmulatorServer) -> None:
    before = len(_requests(hostile, "/link-loop/firewallRules"))
    with pytest.raises(ArmError) as info:
        gateway.read(_cid("link-loop"))
    assert info.value.kind == "blocked" and info.value.code == "PagingCut"
    assert "repeats" in info.value.message
    assert len(_requests(hostile, "/link-loop/firewallRules")) - before <= 3


def test_a_private_endpoint_id_that_would_move_the_host_is_never_requested(
    gateway: Gateway, hostile: EmulatorServer
) -> None:
    snapshot = gateway.read(_cid("pe-off-host"), needs=frozenset({"firewall_rules", "private_dns_zone_groups"}))
    [conn] = snapshot.private_endpoint_connections or ()
    assert conn.private_endpoint_id.startswith("@localhost:")  # what the hostile answer said
    assert conn.private_dns_zone_groups is None  # not read: the public-access rule reports unknown, never "present"
    assert _requests(hostile, "privateDnsZoneGroups") == []


def test_a_cache_get_without_the_documented_shape_is_refused_not_guessed(
    gateway: Gateway, hostile: EmulatorServer
) -> None:
    """The cache's own GET answers 200 with `properties` a string: the read stops `blocked MalformedAnswer`
    (for good, quoting nothing of the answer) rather than crashing or reading defaults into a snapshot."""
    with pytest.raises(ArmError) as info:
        gateway.read(_cid("bad-shape"))
    assert info.value.kind == "blocked" and info.value.code == "MalformedAnswer"
    assert "not-an-object" not in info.value.message
    assert not [r for r in _requests(hostile, "bad-shape") if r["method"] not in ("GET",)]


def test_a_firewall_rule_named_dot_dot_is_never_sent(gateway: Gateway, hostile: EmulatorServer) -> None:
    snapshot = gateway.read(_cid("dot-dot"))
    assert ".." in {r.name for r in snapshot.firewall_rules or ()}
    with pytest.raises(ArmError) as info:
        gateway.apply(_cid("dot-dot"), DeleteFirewallRule("firewall", "..", "0.0.0.0", "255.255.255.255"))
    assert info.value.code == "InvalidResourceName"
    assert [r for r in hostile.requests() if r["method"] == "DELETE"] == []
    assert hostile.cache(cache_id("dot-dot")) is not None


# ------------------------------------------------------------------------------------ the policy itself


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://management.azure.com/subscriptions/x?api-version=1", True),
        ("https://MANAGEMENT.azure.com:443/subscriptions/x", True),
        ("https://management.azure.com.attacker.example/subscriptions/x", False),
        ("https://management.azure.com@attacker.example/subscriptions/x", False),
        ("https://attacker.example/?u=https://management.azure.com", False),
        ("http://management.azure.com/subscriptions/x", False),
        ("https://management.azure.com:8443/subscriptions/x", False),
        ("//management.azure.com/x", False),
    ],
)
def test_same_origin_is_scheme_host_and_port(url: str, ok: bool) -> None:
    assert same_origin(url, "https://management.azure.com") is ok


class _NoToken:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise AssertionError("a token was requested for a refused request")


def test_the_policy_refuses_before_asking_for_a_token() -> None:
    policy = EndpointPinnedAuthenticationPolicy(_NoToken(), "https://management.azure.com/.default",
                                                endpoint="https://management.azure.com")
    request = PipelineRequest(HttpRequest("GET", "https://evil.example/steal"), context=None)  # type: ignore[arg-type]
    with pytest.raises(OffEndpointRequest):
        policy.on_request(request)
    assert "Authorization" not in request.http_request.headers


def test_bounded_pages_cuts_at_pages_items_and_repeats() -> None:
    def endless(url: str) -> tuple[list[int], str | None]:
        return [1], url + "x"

    with pytest.raises(PagingCut, match="more than 5 pages"):
        bounded_pages("u", endless, what="t", max_pages=5)
    with pytest.raises(PagingCut, match="more than 3 items"):
        bounded_pages("u", lambda url: ([1, 2], url + "x"), what="t", max_items=3)
    with pytest.raises(PagingCut, match="repeats"):
        bounded_pages("u", lambda url: ([1], "u"), what="t")
    assert bounded_pages("u", lambda url: ([1, 2], None), what="t") == [1, 2]


@pytest.mark.parametrize("raw", [
    ".attacker.example/subscriptions/x", "@localhost:1" + PE, PE + "/../../x", PE.replace("pe1", "pe1/extra"),
    PE.replace("Microsoft.Network", "Microsoft.Evil"), PE + "?x=1", PE.replace("/rg-net/", "/rg%2Fnet/"),
])
def test_private_endpoint_ids_are_parsed_strictly(raw: str) -> None:
    with pytest.raises(InvalidResourceId):
        parse_private_endpoint_id(raw)


def test_a_good_private_endpoint_id_is_kept() -> None:
    assert parse_private_endpoint_id(PE + "/") == PE


@pytest.mark.parametrize("url", [
    "https://attacker.example/subscriptions/{sub}/providers/Microsoft.Cache/locations/uksouth/asyncOperations/op1",
    "{arm}/subscriptions/00000000-0000-4000-8000-000000000000/providers/Microsoft.Cache/locations/uksouth/"
    "asyncOperations/op1",
    "{arm}/subscriptions/{sub}/resourceGroups/rg-payments/providers/Microsoft.Cache/redis/link-loop",
    "{arm}/subscriptions/{sub}/providers/Microsoft.Cache/locations/uksouth/asyncOperations/..",
    "{arm}/subscriptions/{sub}/providers/Microsoft.Cache/locations/uksouth/asyncOperations/a%2F..%2F..",
    "{arm}@attacker.example/subscriptions/{sub}/providers/Microsoft.Cache/locations/x/asyncOperations/op1",
    None, 42,
], ids=["off-host", "other-subscription", "not-a-status-path", "dot-dot", "encoded-slashes", "userinfo",
        "absent", "not-a-string"])
def test_a_pending_writes_status_url_is_requested_only_when_it_is_arms_own(
    gateway: Gateway, hostile: EmulatorServer, url: object
) -> None:
    """The status URL kept with a pending write came from ARM's answer and sits in the state table: it is read
    only on the ARM endpoint, as an operation status path of the cache's own subscription; anything else is
    never requested (the pending write is then settled by reading the cache)."""
    cache = _cid("link-loop")
    if isinstance(url, str):
        url = url.format(arm=hostile.arm_endpoint, sub=cache.subscription_id)
    before = len(hostile.requests())
    found = gateway.operation_status(cache, url)
    assert found.status is None and found.detail
    assert len(hostile.requests()) == before  # nothing was sent anywhere the emulator could see
