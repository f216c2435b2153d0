"""WARDEN_KEY_EXPIRY_LOCAL_ENDPOINTS may only point at this machine: the app's Entra token goes where it
points."""

from __future__ import annotations

import json

import pytest

from remediators.settings import Settings, SettingsError

BASE = {"WARDEN_SUBSCRIPTIONS": "11111111-2222-3333-4444-555555555555"}
CACHE = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Cache/Redis/C1"


def load(value: str) -> Settings:
    return Settings.from_env({**BASE, "WARDEN_KEY_EXPIRY_LOCAL_ENDPOINTS": value}, require_storage=False)


def test_loopback_endpoints_are_accepted_and_keyed_case_insensitively() -> None:
    got = load(json.dumps({CACHE: "localhost:6390"})).key_expiry_local_endpoints
    assert got == {CACHE.lower(): ("localhost", 6390)}
    assert load("").key_expiry_local_endpoints == {}


@pytest.mark.parametrize("value", [
    json.dumps({CACHE: "evil.example.com:6380"}), json.dumps({CACHE: "10.0.0.5:6380"}),
    json.dumps({CACHE: "localhost"}), json.dumps({CACHE: "localhost:99999"}), json.dumps([CACHE]), "{not json",
    json.dumps({CACHE: "localhost.evil.example:6380"}),
])
def test_anything_else_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(SettingsError, match="WARDEN_KEY_EXPIRY_LOCAL_ENDPOINTS"):
        load(value)
