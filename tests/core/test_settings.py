"""Start-up validation: a bad setting is named, never discovered mid-remediation."""

from __future__ import annotations

import pytest

from remediators.settings import Settings, SettingsError

SUB = "6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"
CONN = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://x/y;"


def env(**extra: str) -> dict[str, str]:
    return {"WARDEN_SUBSCRIPTIONS": SUB, "AzureWebJobsStorage": CONN, **extra}


def test_defaults_are_safe() -> None:
    s = Settings.from_env(env())
    assert s.dry_run is True  # a fresh deploy writes nothing
    assert s.arm_endpoint == "https://management.azure.com"
    assert s.subscriptions == frozenset({SUB})
    assert (s.audit_container, s.checkpoint_container) == ("audit", "audit-checkpoints")
    assert s.pack_container == "audit-packs"
    assert Settings.from_env(env(WARDEN_PACK_CONTAINER="packs-2026")).pack_container == "packs-2026"
    assert s.record_upn is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WARDEN_SUBSCRIPTIONS", ""),
        ("WARDEN_SUBSCRIPTIONS", "not-a-guid"),
        ("WARDEN_ARM_ENDPOINT", "http://127.0.0.1:8443"),
        ("WARDEN_ARM_ENDPOINT", "https://management.azure.com/some/path"),
        ("WARDEN_DRY_RUN", "maybe"),
        ("WARDEN_RECORD_UPN", "2"),
        ("WARDEN_AUDIT_CONTAINER", "Bad_Name"),
        ("WARDEN_PACK_CONTAINER", "packs--2026"),
        ("WARDEN_LOG_ANALYTICS_WORKSPACE_RESOURCE_ID", f"/subscriptions/{SUB}/resourceGroups/rg"),
        ("WARDEN_ACTION_GROUP_RESOURCE_ID", "/subscriptions/x"),
        ("AZURE_CLIENT_ID", "abc"),
        ("WARDEN_DEFER_BUDGET_SECONDS", "ten"),
        ("AzureWebJobsStorage", "UseDevelopmentStorage=true"),
        ("WARDEN_ARM_RATE_SCALE", "0.0005"),
        ("WARDEN_ARM_RATE_SCALE", "1e-3"),
        ("WARDEN_ARM_RATE_SCALE", "nan"),
    ],
)
def test_bad_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name}"):
        Settings.from_env(env(**{name: value}))


def test_the_bench_rate_scale_goes_down_to_a_thousandth() -> None:
    assert Settings.from_env(env(WARDEN_ARM_RATE_SCALE="0.005")).arm_rate_scale == 0.005
    assert Settings.from_env(env(WARDEN_ARM_RATE_SCALE="0.001")).arm_rate_scale == 0.001


def test_identity_based_storage_settings() -> None:
    s = Settings.from_env(
        {
            "WARDEN_SUBSCRIPTIONS": SUB,
            "AzureWebJobsStorage__accountName": "stwarden",
            "AzureWebJobsStorage__credential": "managedidentity",
            "AzureWebJobsStorage__clientId": "3d2b9c1e-6a0f-4b7e-8c55-9a1e2f3d4c5b",
        }
    )
    assert s.storage is not None and s.storage.identity_based
    assert s.storage.queue_service_uri == "https://stwarden.queue.core.windows.net"
    assert s.storage.client_id == "3d2b9c1e-6a0f-4b7e-8c55-9a1e2f3d4c5b"
    with pytest.raises(SettingsError, match="AzureWebJobsStorage__tableServiceUri"):
        Settings.from_env(
            {
                "WARDEN_SUBSCRIPTIONS": SUB,
                "AzureWebJobsStorage__blobServiceUri": "https://a.blob.core.windows.net",
                "AzureWebJobsStorage__queueServiceUri": "https://a.queue.core.windows.net",
            }
        )


def test_storage_is_required() -> None:
    with pytest.raises(SettingsError, match="^AzureWebJobsStorage"):
        Settings.from_env({"WARDEN_SUBSCRIPTIONS": SUB})
