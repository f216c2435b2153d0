"""The managed-identity endpoint as the real azure-identity sees it, and Event Grid delivery of writes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.storage.queue import QueueClient

from devhost.azurite import Azurite
from emulator.principals import JANE, JANE_CLIENT_ID, OID_CLAIM, UPN_CLAIM, WARDEN
from emulator.server import EmulatorServer
from emulator.spec import REFERENCE_ROOT
from emulator.testing import RawArm, cache_id, running_emulator, sample_cache

EVENTS = REFERENCE_ROOT / "events"
ARM = "https://management.azure.com/.default"


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _shape(value: Any) -> Any:
    """Keys (recursively) of a JSON value, to compare an event's shape with a published sample."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


def test_managed_identity_credential_gets_the_warden_by_default(emulator_server: EmulatorServer) -> None:
    token = ManagedIdentityCredential().get_token(ARM).token
    claims = _claims(token)
    assert claims["oid"] == WARDEN.object_id and claims["appid"] == WARDEN.client_id
    assert claims["idtyp"] == "app" and claims["xms_mirid"] == WARDEN.managed_identity_id
    assert claims["aud"] == "https://management.azure.com/"
    assert RawArm(emulator_server, principal=None).request(
        "GET", cache_id("payments-cache"), headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_default_azure_credential_uses_the_endpoint_too(emulator_server: EmulatorServer) -> None:
    credential = DefaultAzureCredential(exclude_cli_credential=True, exclude_powershell_credential=True,
                                        exclude_developer_cli_credential=True)
    assert _claims(credential.get_token(ARM).token)["oid"] == WARDEN.object_id


def test_client_id_selects_jane(emulator_server: EmulatorServer) -> None:
    claims = _claims(ManagedIdentityCredential(client_id=JANE_CLIENT_ID).get_token(ARM).token)
    assert claims["oid"] == JANE.object_id and claims["upn"] == "jane.doe@contoso.co.uk"
    assert claims["name"] == "Jane Doe" and "xms_mirid" not in claims


def test_unknown_client_id_is_refused(emulator_server: EmulatorServer) -> None:
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential(client_id="00000000-0000-0000-0000-000000000000").get_token(ARM)


def test_identity_endpoint_requires_its_secret_header(emulator_server: EmulatorServer) -> None:
    resp = requests.get(emulator_server.identity_endpoint, verify=emulator_server.ca_bundle, timeout=10,
                        params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
                        headers={"X-IDENTITY-HEADER": "guess"})
    assert resp.status_code == 401 and "access_token" not in resp.json()


def _jane_patch(server: EmulatorServer, name: str = "payments-cache") -> requests.Response:
    return RawArm(server, JANE).request("PATCH", cache_id(name), body={"properties": {"enableNonSslPort": True}})


def test_user_write_event_matches_the_published_sample(emulator_server: EmulatorServer) -> None:
    _jane_patch(emulator_server)
    [event] = emulator_server.events()
    sample = json.loads((EVENTS / "redis-write.eventgrid.json").read_text())[0]
    assert _shape(event) == _shape(sample)
    assert event["subject"] == cache_id("payments-cache")
    assert event["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"
    assert event["topic"] == "/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"
    data = event["data"]
    assert data["operationName"] == data["authorization"]["action"] == "Microsoft.Cache/redis/write"
    assert data["httpRequest"]["method"] == "PATCH"
    assert data["httpRequest"]["url"].endswith("?api-version=2024-11-01")
    assert data["claims"][OID_CLAIM] == JANE.object_id and data["claims"][UPN_CLAIM] == JANE.upn
    assert data["claims"]["name"] == "Jane Doe" and data["claims"]["appid"] == JANE_CLIENT_ID
    assert data["authorization"]["evidence"]["principalType"] == "User"


def test_managed_identity_write_event_matches_the_own_write_sample(emulator_server: EmulatorServer) -> None:
    RawArm(emulator_server, WARDEN).request("PATCH", cache_id("payments-cache"),
                                            body={"properties": {"enableNonSslPort": False}})
    [event] = emulator_server.events()
    sample = json.loads((EVENTS / "own-write.eventgrid.json").read_text())[0]
    assert _shape(event) == _shape(sample)
    claims = event["data"]["claims"]
    assert claims["idtyp"] == "app" and claims["xms_mirid"] == WARDEN.managed_identity_id
    assert claims[OID_CLAIM] == WARDEN.object_id and UPN_CLAIM not in claims


def test_child_and_extension_writes_and_deletes_emit_events_but_reads_and_actions_do_not(
    emulator_server: EmulatorServer,
) -> None:
    jane = RawArm(emulator_server, JANE)
    cache = cache_id("payments-cache")
    jane.request("GET", cache)
    jane.request("POST", f"{cache}/listKeys", body={})
    jane.request("PUT", f"{cache}/firewallRules/allow_all", body={"properties": {"startIP": "0.0.0.0",
                                                                                 "endIP": "255.255.255.255"}})
    jane.request("DELETE", f"{cache}/firewallRules/office")
    ds = f"{cache}/providers/Microsoft.Insights/diagnosticSettings/warden-logs"
    jane.request("PUT", ds, api_version="2021-05-01-preview",
                 body={"properties": {"workspaceId": "/subscriptions/x/resourceGroups/y/providers/"
                                                     "Microsoft.OperationalInsights/workspaces/z",
                                      "logs": [{"categoryGroup": "audit", "enabled": True}]}})
    jane.request("DELETE", ds, api_version="2021-05-01-preview")
    jane.request("PATCH", cache, body={"properties": {"minimumTlsVersion": "1.0"}})  # refused: no event
    got = [(e["eventType"].rsplit(".", 1)[1], e["data"]["operationName"], e["subject"]) for e in
           emulator_server.events()]
    assert got == [
        ("ResourceWriteSuccess", "Microsoft.Cache/redis/firewallRules/write", f"{cache}/firewallRules/allow_all"),
        ("ResourceDeleteSuccess", "Microsoft.Cache/redis/firewallRules/delete", f"{cache}/firewallRules/office"),
        ("ResourceWriteSuccess", "Microsoft.Insights/diagnosticSettings/write", ds),
        ("ResourceDeleteSuccess", "Microsoft.Insights/diagnosticSettings/delete", ds),
    ]
    sample = json.loads((EVENTS / "diagnostic-setting-delete.eventgrid.json").read_text())[0]
    assert _shape(emulator_server.events()[-1]) == _shape(sample)


def test_exclude_appids_filters_like_the_event_subscription() -> None:
    with running_emulator([sample_cache("c1")], exclude_appids=[WARDEN.client_id]) as server:
        warden = RawArm(server, WARDEN)
        warden.request("PATCH", cache_id("c1"), body={"properties": {"enableNonSslPort": False}})
        warden.request("GET", cache_id("c1"))  # the counted poll that ends the warden's update
        assert RawArm(server, JANE).request("PATCH", cache_id("c1"),
                                            body={"properties": {"enableNonSslPort": True}}).status_code < 300
        assert [e["data"]["claims"]["appid"] for e in server.events()] == [JANE.client_id]


def test_cloudevents_schema_matches_the_published_sample() -> None:
    with running_emulator([sample_cache("c1")], event_schema="cloudevents") as server:
        _jane_patch(server, "c1")
        [event] = server.events()
    sample = json.loads((EVENTS / "redis-write.cloudevents.json").read_text())[0]
    assert _shape(event) == _shape(sample)
    assert event["specversion"] == "1.0" and event["source"] == "/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"


@pytest.mark.parametrize("shape", ["recorded", "updating"])
def test_events_reach_the_queue_one_base64_event_per_message(azurite: Azurite, shape: str) -> None:
    queue_name = f"events-{shape}"
    with running_emulator([sample_cache("c1")], lro_shape=shape, queue_connection_string=azurite.connection_string,
                          event_queue=queue_name) as server:
        arm = RawArm(server, JANE)
        arm.request("PATCH", cache_id("c1"), body={"properties": {"enableNonSslPort": True}})
        arm.request("PUT", f"{cache_id('c1')}/firewallRules/vpn", body={"properties": {"startIP": "10.0.0.1",
                                                                                       "endIP": "10.0.0.9"}})
        delivered = server.events()
        assert server.publisher.failures == []
    queue = QueueClient.from_connection_string(azurite.connection_string, queue_name)
    raw = [m.content for m in queue.receive_messages(messages_per_page=32)]
    decoded = [json.loads(base64.b64decode(content)) for content in raw]
    assert decoded == delivered
    assert all(isinstance(e, dict) for e in decoded)  # one object per message, never an array
