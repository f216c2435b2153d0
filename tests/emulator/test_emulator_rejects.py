"""Every row of emulator/README.md's table "ARM rejects X": the request, ARM's status, code and wording."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from emulator.principals import JANE, WARDEN
from emulator.server import EmulatorServer
from emulator.testing import RawArm, cache_id

PAYMENTS = cache_id("payments-cache")
BUSY = cache_id("busy-cache")
WORKSPACE = (
    "/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11/resourceGroups/rg-logs/providers/"
    "Microsoft.OperationalInsights/workspaces/law-warden"
)
DS_API = "2021-05-01-preview"


def _error(resp: requests.Response) -> dict[str, Any]:
    """ARM's `error` object, or Azure Monitor's bare one."""
    body = resp.json()
    return body.get("error", body)


def test_missing_api_version_is_refused(arm: RawArm) -> None:
    resp = arm.request("GET", PAYMENTS, api_version=None)
    assert resp.status_code == 400
    assert _error(resp) == {
        "code": "MissingApiVersionParameter",
        "message": "The api-version query parameter (?api-version=) is required for all requests.",
    }


def test_unknown_api_version_is_refused(arm: RawArm) -> None:
    resp = arm.request("GET", PAYMENTS, api_version="2099-01-01")
    assert resp.status_code == 400
    err = _error(resp)
    assert err["code"] == "NoRegisteredProviderFound"
    assert "API version '2099-01-01'" in err["message"] and "'2024-11-01'" in err["message"]
    assert "location 'uksouth'" in err["message"]


def test_request_without_authorization_header_gets_401(emulator_server: EmulatorServer) -> None:
    resp = RawArm(emulator_server, principal=None).request("GET", PAYMENTS)
    assert resp.status_code == 401
    assert _error(resp) == {
        "code": "AuthenticationFailed",
        "message": "Authentication failed. The 'Authorization' header is missing.",
    }
    assert resp.headers["WWW-Authenticate"].startswith("Bearer ")


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b", "x.y.z"])
def test_malformed_token_gets_401(emulator_server: EmulatorServer, token: str) -> None:
    client = RawArm(emulator_server, principal=None)
    resp = client.request("GET", PAYMENTS, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401
    assert _error(resp) == {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}


def test_forged_token_gets_401(emulator_server: EmulatorServer) -> None:
    """Jane's token with its payload swapped for the warden's claims: the signature no longer matches."""
    jane = emulator_server.mint_token(JANE).split(".")
    warden = emulator_server.mint_token(WARDEN).split(".")
    forged = ".".join([jane[0], warden[1], jane[2]])
    resp = RawArm(emulator_server, principal=None).request(
        "GET", PAYMENTS, headers={"Authorization": f"Bearer {forged}"}
    )
    assert resp.status_code == 401
    assert _error(resp)["code"] == "InvalidAuthenticationToken"


def test_token_from_another_emulator_gets_401(emulator_server: EmulatorServer) -> None:
    with EmulatorServer([]) as other:
        foreign = other.mint_token(WARDEN)
    resp = RawArm(emulator_server, principal=None).request(
        "GET", PAYMENTS, headers={"Authorization": f"Bearer {foreign}"}
    )
    assert resp.status_code == 401
    assert _error(resp)["code"] == "InvalidAuthenticationToken"


def test_expired_token_gets_401(emulator_server: EmulatorServer) -> None:
    expired = emulator_server.mint_token(WARDEN, lifetime=-120)
    resp = RawArm(emulator_server, principal=None).request(
        "GET", PAYMENTS, headers={"Authorization": f"Bearer {expired}"}
    )
    assert resp.status_code == 401
    err = _error(resp)
    assert err["code"] == "ExpiredAuthenticationToken"
    assert err["message"].startswith("The access token expiry UTC time '")
    assert "is earlier than current UTC time" in err["message"]


def test_token_for_another_audience_gets_401(emulator_server: EmulatorServer) -> None:
    storage = emulator_server.mint_token(WARDEN, audience="https://storage.azure.com/")
    resp = RawArm(emulator_server, principal=None).request(
        "GET", PAYMENTS, headers={"Authorization": f"Bearer {storage}"}
    )
    assert resp.status_code == 401
    err = _error(resp)
    assert err["code"] == "InvalidAuthenticationToken"
    assert "wrong audience or resource 'https://storage.azure.com/'" in err["message"]


def test_unknown_cache_gets_arm_resource_not_found(arm: RawArm) -> None:
    resp = arm.request("GET", cache_id("nope"))
    assert resp.status_code == 404
    assert _error(resp) == {
        "code": "ResourceNotFound",
        "message": "The Resource 'Microsoft.Cache/Redis/nope' under resource group 'rg-payments' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    }


def test_unknown_resource_group_gets_resource_group_not_found(arm: RawArm) -> None:
    resp = arm.request("GET", cache_id("payments-cache", resource_group="rg-missing"))
    assert resp.status_code == 404
    assert _error(resp) == {"code": "ResourceGroupNotFound",
                            "message": "Resource group 'rg-missing' could not be found."}


def test_patch_while_updating_gets_409_busy(arm: RawArm) -> None:
    resp = arm.request("PATCH", BUSY, body={"properties": {"enableNonSslPort": False}})
    assert resp.status_code == 409
    assert _error(resp) == {
        "code": "Conflict",
        "message": f"The resource '{BUSY}' is busy processing a previous update request or is undergoing system "
        "maintenance.  As such, it is currently unable to accept the update request.  Please try again later.",
    }


def test_patch_with_value_outside_enum_is_refused_naming_the_field(arm: RawArm) -> None:
    resp = arm.request("PATCH", PAYMENTS, body={"properties": {"publicNetworkAccess": "Off"}})
    assert resp.status_code == 400
    err = _error(resp)
    assert err["code"] == "BadRequest"
    assert err["target"] == "properties.publicNetworkAccess"
    assert "'Enabled'" in err["message"] and "'Disabled'" in err["message"]


def test_patch_with_wrong_json_type_is_refused_naming_the_field(arm: RawArm) -> None:
    resp = arm.request("PATCH", PAYMENTS, body={"properties": {"enableNonSslPort": "false"}})
    assert resp.status_code == 400
    err = _error(resp)
    assert err["code"] == "InvalidRequestContent"
    assert err["target"] == "properties.enableNonSslPort"


def test_patch_with_unknown_property_is_refused(arm: RawArm) -> None:
    resp = arm.request("PATCH", PAYMENTS, body={"properties": {"enableNonSSLPort": False}})
    assert resp.status_code == 400
    assert _error(resp)["target"] == "properties.enableNonSSLPort"


def test_patch_with_a_get_only_property_is_refused_as_unknown(arm: RawArm) -> None:
    """hostName is in the GET body but not in RedisUpdateProperties: refused (stricter than ARM)."""
    resp = arm.request("PATCH", PAYMENTS, body={"properties": {"hostName": "evil.example"}})
    assert resp.status_code == 400
    assert _error(resp)["target"] == "properties.hostName"


def test_patch_read_only_property_is_ignored(arm: RawArm, emulator_server: EmulatorServer) -> None:
    resp = arm.request("PATCH", PAYMENTS, body={"properties": {"enableNonSslPort": True,
                                                              "redisConfiguration": {"maxclients": "1"}}})
    assert resp.status_code in (200, 202)
    stored = emulator_server.cache(PAYMENTS)
    assert stored is not None
    assert stored["properties"]["enableNonSslPort"] is True
    assert stored["properties"]["redisConfiguration"]["maxclients"] == "1000"  # read-only: ignored


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_patch_setting_tls_below_1_2_is_refused(arm: RawArm, version: str) -> None:
    resp = arm.request("PATCH", PAYMENTS, body={"properties": {"minimumTlsVersion": version}})
    assert resp.status_code == 400
    err = _error(resp)
    assert err["code"] == "BadRequest"
    assert err["target"] == "properties.minimumTlsVersion"


def test_patch_public_network_access_with_identity_in_one_request_is_refused(arm: RawArm) -> None:
    resp = arm.request("PATCH", PAYMENTS, body={"properties": {"publicNetworkAccess": "Disabled"},
                                                "identity": {"type": "SystemAssigned"}})
    assert resp.status_code == 400
    err = _error(resp)
    assert err["code"] == "BadRequest"
    assert "can't be processed in one single request" in err["message"]
    assert "'properties.publicNetworkAccess,identity'" in err["message"]


@pytest.mark.parametrize("name", ["allow-office", "allow office", "allow.office"])
def test_firewall_rule_name_outside_word_characters_is_refused(arm: RawArm, name: str) -> None:
    resp = arm.request("PUT", f"{PAYMENTS}/firewallRules/{name}",
                       body={"properties": {"startIP": "10.0.0.1", "endIP": "10.0.0.2"}})
    assert resp.status_code == 400
    assert _error(resp)["target"] == "ruleName"


@pytest.mark.parametrize(
    ("start", "end", "target"),
    [("10.0.0.300", "10.0.0.1", "properties.startIP"), ("10.0.0.1", "::1", "properties.endIP"),
     ("10.0.0.9", "10.0.0.1", "properties.startIP")],
)
def test_firewall_rule_with_bad_range_is_refused(arm: RawArm, start: str, end: str, target: str) -> None:
    resp = arm.request("PUT", f"{PAYMENTS}/firewallRules/allow_office",
                       body={"properties": {"startIP": start, "endIP": end}})
    assert resp.status_code == 400
    assert _error(resp)["target"] == target


def test_firewall_rule_without_required_field_is_refused(arm: RawArm) -> None:
    resp = arm.request("PUT", f"{PAYMENTS}/firewallRules/allow_office", body={"properties": {"startIP": "10.0.0.1"}})
    assert resp.status_code == 400
    assert _error(resp)["target"] == "properties.endIP"


def _setting(*logs: dict) -> dict:
    return {"properties": {"workspaceId": WORKSPACE, "logs": list(logs)}}


def test_second_setting_sending_same_category_to_same_workspace_is_refused(arm: RawArm) -> None:
    first = arm.request("PUT", f"{PAYMENTS}/providers/Microsoft.Insights/diagnosticSettings/ops", api_version=DS_API,
                        body=_setting({"categoryGroup": "allLogs", "enabled": True}))
    assert first.status_code == 200
    second = arm.request("PUT", f"{PAYMENTS}/providers/Microsoft.Insights/diagnosticSettings/warden-logs",
                         api_version=DS_API, body=_setting({"category": "ConnectedClientList", "enabled": True}))
    assert second.status_code == 409
    assert second.json() == {  # Azure Monitor answers without ARM's "error" envelope
        "code": "Conflict",
        "message": f"Data sink '{WORKSPACE}' is already used in diagnostic setting 'ops' for category "
        "'ConnectedClientList'. Data sinks can't be reused in different settings on the same category for the "
        "same resource.",
    }


def test_second_setting_on_other_categories_or_other_sink_is_accepted(arm: RawArm) -> None:
    path = f"{PAYMENTS}/providers/Microsoft.Insights/diagnosticSettings"
    assert arm.request("PUT", f"{path}/audit", api_version=DS_API,
                       body=_setting({"categoryGroup": "audit", "enabled": True})).status_code == 200
    # ConnectedClientList is not in the audit group, so the same workspace may take it in another setting.
    assert arm.request("PUT", f"{path}/clients", api_version=DS_API,
                       body=_setting({"category": "ConnectedClientList", "enabled": True})).status_code == 200
    # Re-writing a setting under its own name is an update, not a second setting.
    assert arm.request("PUT", f"{path}/clients", api_version=DS_API,
                       body=_setting({"category": "ConnectedClientList", "enabled": True})).status_code == 200


def test_diagnostic_category_the_cache_does_not_offer_is_refused(arm: RawArm) -> None:
    resp = arm.request("PUT", f"{PAYMENTS}/providers/Microsoft.Insights/diagnosticSettings/x", api_version=DS_API,
                       body=_setting({"category": "SlowLog", "enabled": True}))
    assert resp.status_code == 400
    assert resp.json()["code"] == "BadRequest"


def test_body_that_is_not_json_is_refused(arm: RawArm) -> None:
    resp = arm.request("PATCH", PAYMENTS, raw=b"{not json")
    assert resp.status_code == 400
    assert _error(resp)["code"] == "InvalidRequestContent"


def test_unsupported_method_is_refused(arm: RawArm) -> None:
    resp = arm.request("POST", PAYMENTS, body={})
    assert resp.status_code == 405
    assert _error(resp)["code"] == "HttpMethodNotAllowed"


def test_token_payload_is_base64url_json_with_realistic_claims(emulator_server: EmulatorServer) -> None:
    payload = emulator_server.mint_token(WARDEN).split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["oid"] == WARDEN.object_id and claims["appid"] == WARDEN.client_id
    assert claims["idtyp"] == "app" and claims["xms_mirid"] == WARDEN.managed_identity_id
    assert claims["aud"] == "https://management.azure.com/" and claims["exp"] > claims["iat"]
