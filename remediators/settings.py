"""Every app setting, read once into a typed, validated `Settings`.

A bad setting stops start-up with an error naming the setting, rather than surfacing later as a confusing
ARM or storage failure in the middle of a remediation. The table in the README and
`local.settings.sample.json` document the same names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from .resource_ids import InvalidResourceId, ManagementGroup, id_segments, parse_management_group

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}

EVENTS_QUEUE = "warden-events"
WORK_QUEUE = "warden-work"
LEASE_CONTAINER = "warden-leases"
STATE_TABLE = "wardenstate"
# One invocation's wait for a PATCH stays below the 60 s per-cache lease (remediators.state.store), so the
# write that started it can never be outlived by its own wait (issue 11: it once allowed 300 s).
MAX_LRO_WAIT_SECONDS = 45


class SettingsError(ValueError):
    """A setting is missing or invalid; the message starts with the setting's name."""


@dataclass(frozen=True)
class StorageSettings:
    """`AzureWebJobsStorage` either as a connection string (Azurite, or a key-based account) or in the
    identity-based `AzureWebJobsStorage__*` form that Flex Consumption deployments use."""

    connection_string: str | None = None
    blob_service_uri: str | None = None
    queue_service_uri: str | None = None
    table_service_uri: str | None = None
    client_id: str | None = None  # user-assigned identity for storage (`__clientId`)

    @property
    def identity_based(self) -> bool:
        return self.connection_string is None


@dataclass(frozen=True)
class LogsIngestionSettings:
    """Where audit records go as typed rows (Logs Ingestion API): the data collection endpoint, the rule's
    immutable id and its stream (infra/modules/audit-logs.bicep outputs all three)."""

    endpoint: str
    rule_id: str
    stream: str = "Custom-RedisWardenAudit"


@dataclass(frozen=True)
class Settings:
    subscriptions: frozenset[str]
    arm_endpoint: str = "https://management.azure.com"
    baseline_source: str | None = None
    dry_run: bool = True
    storage: StorageSettings | None = None
    audit_container: str = "audit"
    checkpoint_container: str = "audit-checkpoints"
    # The monthly assessment packs (WORM, block blobs created once): remediators/reporting/publish.py
    pack_container: str = "audit-packs"
    audit_file: str | None = None
    signing_key: str | None = None
    log_analytics_workspace_id: str | None = None
    action_group_id: str | None = None
    record_upn: bool = False
    azure_client_id: str | None = None
    defer_budget_seconds: int = 3600
    defer_base_seconds: int = 30
    lro_wait_seconds: float = 20.0
    arm_rate_scale: float = 1.0  # ARM's refill rates times this in the pacing model (time-scaled benchmarks)
    breaker_max_writes: int = 100
    breaker_window_seconds: int = 600
    flap_max: int = 3
    flap_window_seconds: int = 3600
    logs_ingestion: LogsIngestionSettings | None = None  # audit rows into Log Analytics (both or neither)
    # Local development only: key-expiry sampling of these caches (ARM id, lower case) goes to a loopback
    # redis-server instead of the cache's Azure host, trusting `key_expiry_ca_file` (the demo uses it).
    key_expiry_local_endpoints: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    key_expiry_ca_file: str | None = None
    # The nightly scan: one scan of this management group (Resource Graph) instead of one per subscription.
    nightly_management_group: ManagementGroup | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, require_storage: bool = True) -> Settings:
        """Build settings from app settings / environment variables, validating each one."""
        subs = _subscriptions(env.get("WARDEN_SUBSCRIPTIONS"))
        return cls(
            subscriptions=subs,
            arm_endpoint=_arm_endpoint(env.get("WARDEN_ARM_ENDPOINT")),
            baseline_source=_optional(env.get("WARDEN_BASELINE")),
            dry_run=_bool(env, "WARDEN_DRY_RUN", default=True),
            storage=_storage(env, required=require_storage),
            audit_container=_container(env, "WARDEN_AUDIT_CONTAINER", "audit"),
            checkpoint_container=_container(env, "WARDEN_CHECKPOINT_CONTAINER", "audit-checkpoints"),
            pack_container=_container(env, "WARDEN_PACK_CONTAINER", "audit-packs"),
            audit_file=_optional(env.get("WARDEN_AUDIT_FILE")),
            signing_key=_optional(env.get("WARDEN_SIGNING_KEY")),
            log_analytics_workspace_id=_arm_id(
                env, "WARDEN_LOG_ANALYTICS_WORKSPACE_RESOURCE_ID", "microsoft.operationalinsights/workspaces"
            ),
            action_group_id=_arm_id(env, "WARDEN_ACTION_GROUP_RESOURCE_ID", "microsoft.insights/actiongroups"),
            record_upn=_bool(env, "WARDEN_RECORD_UPN", default=False),
            azure_client_id=_guid_or_none(env, "AZURE_CLIENT_ID"),
            defer_budget_seconds=_int(env, "WARDEN_DEFER_BUDGET_SECONDS", 3600, minimum=60, maximum=7 * 86400),
            defer_base_seconds=_int(env, "WARDEN_DEFER_BASE_SECONDS", 30, minimum=1, maximum=900),
            lro_wait_seconds=float(_int(env, "WARDEN_LRO_WAIT_SECONDS", 20, minimum=0, maximum=MAX_LRO_WAIT_SECONDS)),
            arm_rate_scale=_scale(env, "WARDEN_ARM_RATE_SCALE"),
            breaker_max_writes=_int(env, "WARDEN_BREAKER_MAX_WRITES", 100, minimum=1, maximum=100_000),
            breaker_window_seconds=_int(env, "WARDEN_BREAKER_WINDOW_SECONDS", 600, minimum=1, maximum=7 * 86400),
            flap_max=_int(env, "WARDEN_FLAP_MAX", 3, minimum=1, maximum=1000),
            flap_window_seconds=_int(env, "WARDEN_FLAP_WINDOW_SECONDS", 3600, minimum=1, maximum=30 * 86400),
            logs_ingestion=_logs_ingestion(env),
            key_expiry_local_endpoints=_loopback_endpoints(env.get("WARDEN_KEY_EXPIRY_LOCAL_ENDPOINTS")),
            key_expiry_ca_file=_optional(env.get("WARDEN_KEY_EXPIRY_CA_FILE")),
            nightly_management_group=_management_group(env, "WARDEN_NIGHTLY_MANAGEMENT_GROUP"),
        )


_LOOPBACK = frozenset({"localhost", "127.0.0.1"})


def _loopback_endpoints(raw: str | None) -> dict[str, tuple[str, int]]:
    """`{"<cache ARM id>": "localhost:<port>"}`: loopback hosts only, so the setting can never send the
    app's Entra token anywhere but this machine."""
    name = "WARDEN_KEY_EXPIRY_LOCAL_ENDPOINTS"
    if not raw or not raw.strip():
        return {}
    try:
        mapping = json.loads(raw)
    except ValueError:
        raise SettingsError(f"{name}: must be a JSON object of cache id -> 'localhost:port'") from None
    if not isinstance(mapping, dict):
        raise SettingsError(f"{name}: must be a JSON object of cache id -> 'localhost:port'")
    out: dict[str, tuple[str, int]] = {}
    for cache, target in mapping.items():
        host, _, port = str(target).rpartition(":")
        if host not in _LOOPBACK or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(f"{name}: {target!r} for {cache!r} is not localhost:<port> (loopback only)")
        out[str(cache).lower()] = (host, int(port))
    return out


def _management_group(env: Mapping[str, str], name: str) -> ManagementGroup | None:
    value = _optional(env.get(name))
    if value is None:
        return None
    try:
        return parse_management_group(value)
    except InvalidResourceId as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _optional(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _subscriptions(raw: str | None) -> frozenset[str]:
    if not raw or not raw.strip():
        raise SettingsError("WARDEN_SUBSCRIPTIONS: required (comma-separated subscription ids)")
    subs = [s.strip() for s in raw.split(",") if s.strip()]
    bad = [s for s in subs if not _GUID.match(s)]
    if bad or not subs:
        raise SettingsError(f"WARDEN_SUBSCRIPTIONS: not a subscription id (GUID): {', '.join(bad) or raw!r}")
    return frozenset(s.lower() for s in subs)


def _arm_endpoint(raw: str | None) -> str:
    value = _optional(raw) or "https://management.azure.com"
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.hostname or parsed.path not in ("", "/") or parsed.query:
        raise SettingsError(
            "WARDEN_ARM_ENDPOINT: must be an https URL with no path (the SDK refuses bearer tokens over http)"
        )
    return value.rstrip("/")


_DCR_ID = re.compile(r"^dcr-[0-9a-f]{32}$")
_STREAM = re.compile(r"^Custom-[A-Za-z0-9_]{1,100}$")


def _logs_ingestion(env: Mapping[str, str]) -> LogsIngestionSettings | None:
    """WARDEN_LOGS_INGESTION_ENDPOINT + WARDEN_LOGS_DCR_IMMUTABLE_ID (+ WARDEN_LOGS_STREAM): both or neither."""
    endpoint = _optional(env.get("WARDEN_LOGS_INGESTION_ENDPOINT"))
    rule_id = _optional(env.get("WARDEN_LOGS_DCR_IMMUTABLE_ID"))
    stream = _optional(env.get("WARDEN_LOGS_STREAM")) or "Custom-RedisWardenAudit"
    if endpoint is None and rule_id is None:
        return None
    if endpoint is None or rule_id is None:
        missing = "WARDEN_LOGS_INGESTION_ENDPOINT" if endpoint is None else "WARDEN_LOGS_DCR_IMMUTABLE_ID"
        raise SettingsError(f"{missing}: required when the other Logs Ingestion setting is set")
    parsed = urlparse(endpoint)
    if parsed.scheme != "https" or not parsed.hostname or parsed.path not in ("", "/") or parsed.query:
        raise SettingsError("WARDEN_LOGS_INGESTION_ENDPOINT: must be the https URL of a data collection endpoint")
    if not _DCR_ID.match(rule_id):
        raise SettingsError("WARDEN_LOGS_DCR_IMMUTABLE_ID: not a data collection rule immutable id (dcr-<32 hex>)")
    if not _STREAM.match(stream):
        raise SettingsError("WARDEN_LOGS_STREAM: not a custom stream name (Custom-<name>)")
    return LogsIngestionSettings(endpoint.rstrip("/"), rule_id, stream)


def _bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = _optional(env.get(name))
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


def _scale(env: Mapping[str, str], name: str) -> float:
    """A time scale: a plain decimal between 0.001 and 1000 (no `inf`, `nan` or exponent), default 1. The
    10,000-cache bench runs at 0.005 (bench/README.md says why)."""
    raw = _optional(env.get(name))
    if raw is None:
        return 1.0
    if not re.fullmatch(r"\d{1,4}(\.\d{1,4})?", raw) or not 0.001 <= float(raw) <= 1000:
        raise SettingsError(f"{name}: expected a number between 0.001 and 1000, got {raw!r}")
    return float(raw)


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = _optional(env.get(name))
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name}: must be between {minimum} and {maximum}, got {value}")
    return value


def _container(env: Mapping[str, str], name: str, default: str) -> str:
    value = _optional(env.get(name)) or default
    if not _CONTAINER.match(value):
        raise SettingsError(f"{name}: {value!r} is not a valid blob container name")
    return value


def _guid_or_none(env: Mapping[str, str], name: str) -> str | None:
    value = _optional(env.get(name))
    if value is not None and not _GUID.match(value):
        raise SettingsError(f"{name}: expected a client id (GUID), got {value!r}")
    return value


def _arm_id(env: Mapping[str, str], name: str, type_path: str) -> str | None:
    """An ARM resource id of the given provider/type; compared case-insensitively later, kept as given."""
    value = _optional(env.get(name))
    if value is None:
        return None
    try:
        parts = id_segments(value)
    except InvalidResourceId as exc:
        raise SettingsError(f"{name}: {exc}") from None
    ns, typ = type_path.split("/")
    ok = (
        len(parts) == 8
        and parts[0].lower() == "subscriptions"
        and _GUID.match(parts[1])
        and parts[2].lower() == "resourcegroups"
        and parts[4].lower() == "providers"
        and parts[5].lower() == ns
        and parts[6].lower() == typ
    )
    if not ok:
        raise SettingsError(f"{name}: expected the resource id of a {type_path}, got {value!r}")
    return value


def _storage(env: Mapping[str, str], *, required: bool) -> StorageSettings | None:
    conn = _optional(env.get("AzureWebJobsStorage"))
    if conn:
        if conn.lower() == "usedevelopmentstorage=true":
            raise SettingsError(
                "AzureWebJobsStorage: UseDevelopmentStorage=true assumes Azurite's default ports; "
                "give the full Azurite connection string"
            )
        if "AccountName=" not in conn and "BlobEndpoint=" not in conn:
            raise SettingsError("AzureWebJobsStorage: not a storage connection string")
        return StorageSettings(connection_string=conn)
    prefix = "AzureWebJobsStorage__"
    account = _optional(env.get(prefix + "accountName"))
    uris = {
        svc: _optional(env.get(f"{prefix}{svc}ServiceUri")) or (
            f"https://{account}.{svc}.core.windows.net" if account else None
        )
        for svc in ("blob", "queue", "table")
    }
    if not any(uris.values()):
        if required:
            raise SettingsError(
                "AzureWebJobsStorage: required (a connection string, or the identity-based "
                "AzureWebJobsStorage__blobServiceUri/__queueServiceUri/__tableServiceUri settings)"
            )
        return None
    for svc, uri in uris.items():
        if uri is None:
            raise SettingsError(f"{prefix}{svc}ServiceUri: required with identity-based storage")
        if urlparse(uri).scheme != "https":
            raise SettingsError(f"{prefix}{svc}ServiceUri: must be an https URL")
    credential = _optional(env.get(prefix + "credential"))
    if credential is not None and credential.lower() != "managedidentity":
        raise SettingsError(f"{prefix}credential: only 'managedidentity' is supported, got {credential!r}")
    return StorageSettings(
        blob_service_uri=uris["blob"],
        queue_service_uri=uris["queue"],
        table_service_uri=uris["table"],
        client_id=_guid_or_none(env, prefix + "clientId"),
    )
