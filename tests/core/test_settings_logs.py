"""WARDEN_LOGS_* and WARDEN_PACK_CONTAINER: validated at start-up with the setting's name in the error."""

from __future__ import annotations

import pytest

from remediators.settings import Settings, SettingsError

BASE = {"WARDEN_SUBSCRIPTIONS": "6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"}
DCR = "dcr-0123456789abcdef0123456789abcdef"


def test_logs_ingestion_is_off_unless_both_settings_are_given() -> None:
    assert Settings.from_env(BASE, require_storage=False).logs_ingestion is None
    s = Settings.from_env({**BASE, "WARDEN_LOGS_INGESTION_ENDPOINT": "https://dce-x.uksouth-1.ingest.monitor.azure.com/",
                           "WARDEN_LOGS_DCR_IMMUTABLE_ID": DCR}, require_storage=False)
    assert s.logs_ingestion is not None
    assert (s.logs_ingestion.endpoint, s.logs_ingestion.rule_id, s.logs_ingestion.stream) == (
        "https://dce-x.uksouth-1.ingest.monitor.azure.com", DCR, "Custom-RedisWardenAudit")


@pytest.mark.parametrize(("env", "name"), [
    ({"WARDEN_LOGS_DCR_IMMUTABLE_ID": DCR}, "WARDEN_LOGS_INGESTION_ENDPOINT"),
    ({"WARDEN_LOGS_INGESTION_ENDPOINT": "https://dce.example"}, "WARDEN_LOGS_DCR_IMMUTABLE_ID"),
    ({"WARDEN_LOGS_INGESTION_ENDPOINT": "http://dce.example", "WARDEN_LOGS_DCR_IMMUTABLE_ID": DCR},
     "WARDEN_LOGS_INGESTION_ENDPOINT"),
    ({"WARDEN_LOGS_INGESTION_ENDPOINT": "https://dce.example", "WARDEN_LOGS_DCR_IMMUTABLE_ID": "my-rule"},
     "WARDEN_LOGS_DCR_IMMUTABLE_ID"),
    ({"WARDEN_LOGS_INGESTION_ENDPOINT": "https://dce.example", "WARDEN_LOGS_DCR_IMMUTABLE_ID": DCR,
      "WARDEN_LOGS_STREAM": "RedisWardenAudit"}, "WARDEN_LOGS_STREAM"),
])
def test_bad_logs_settings_name_the_setting(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name}:"):
        Settings.from_env({**BASE, **env}, require_storage=False)
