"""Wiring: settings -> credential, SDK clients, storage, state, audit trail, engine. Built once per process.

Function instances reuse one `Runtime` across invocations so SDK clients, connection pools and the token
cache are shared, and a bad setting or baseline fails the first invocation loudly (and every one after),
instead of half-working.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ResourceExistsError
from azure.identity import DefaultAzureCredential
from azure.storage.queue import QueueClient

from ..arm.gateway import Gateway
from ..audit import AuditTrail, open_trail
from ..baseline import Baseline, load_baseline, settings_defaults
from ..dataplane.endpoint import RedisEndpoint
from ..dataplane.reader import KeyExpiryReader
from ..engine.intake import EventIntake
from ..engine.reconcile import DeferPolicy, DryRunPolicy, Engine
from ..models import Actor
from ..resource_ids import ResourceId
from ..settings import EVENTS_QUEUE, WORK_QUEUE, Settings
from ..state.baseline_ledger import note_baseline
from ..state.breaker import SafetyLimits
from ..state.limits import SafetyGuard
from ..state.storage import StorageClients, send_text
from ..state.store import StateStore
from ..workitem import WorkItem


class QueueDeferrer:
    """Deferral = the WorkItem re-enqueued on `warden-work` with a visibility delay (never a sleep)."""

    def __init__(self, work: QueueClient, poison: QueueClient) -> None:
        self.work = work
        self.poison = poison

    def defer(self, item: WorkItem, delay_seconds: int) -> None:
        send_text(self.work, item.to_json(), visibility_timeout=min(delay_seconds, 7 * 86400 - 1))

    def give_up(self, item: WorkItem, reason: str) -> None:
        send_text(self.poison, item.to_json())


@dataclass
class Runtime:
    settings: Settings
    baseline: Baseline
    credential: TokenCredential
    gateway: Gateway
    storage: StorageClients
    state: StateStore
    audit: AuditTrail
    engine: Engine
    intake: EventIntake
    own: Actor

    def queue(self, name: str) -> QueueClient:
        return self.storage.queue(name)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        credential: TokenCredential | None = None,
        audit: AuditTrail | None = None,
        deferrer: Any = None,
        clock: Any = None,
    ) -> Runtime:
        baseline = load_baseline(
            settings.baseline_source,
            defaults=settings_defaults(settings.log_analytics_workspace_id, settings.action_group_id),
        )
        credential = credential or DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
        if settings.logs_ingestion is not None:
            from ..audit.log_ingestion import install

            install(settings.logs_ingestion, credential)
        gateway = Gateway(settings.arm_endpoint, credential, lro_wait_seconds=settings.lro_wait_seconds,
                          rate_scale=settings.arm_rate_scale)
        if settings.storage is None:
            raise ValueError("AzureWebJobsStorage: required")
        storage = StorageClients(settings.storage, credential)
        state = StateStore(storage)
        state.ensure()
        own = gateway.own_identity()
        if settings.azure_client_id and not own.app_id:
            own = Actor(object_id=own.object_id, app_id=settings.azure_client_id)
        if audit is None:
            audit = open_trail(
                audit_file=settings.audit_file,
                blob_service=None if settings.audit_file else storage.blob_service,
                container=settings.audit_container,
                checkpoint_container=settings.checkpoint_container,
                signing_key=settings.signing_key,
                baseline_hash=baseline.version_hash,
                our_identity=own.minimal(),
                record_upn=settings.record_upn,
            )
        # Once per new baseline across all instances: the `baseline-changed` record with the diff.
        note_baseline(state.baseline_ledger(), audit, baseline, **({"clock": clock} if clock else {}))
        if deferrer is None:
            work, poison = storage.queue(WORK_QUEUE), storage.queue(WORK_QUEUE + "-poison")
            for q in (work, poison, storage.queue(EVENTS_QUEUE)):
                with contextlib.suppress(ResourceExistsError):
                    q.create_queue()
            deferrer = QueueDeferrer(work, poison)
        engine = Engine(
            baseline=baseline,
            gateway=gateway,
            state=state,
            audit=audit,
            deferrer=deferrer,
            subscriptions=settings.subscriptions,
            dry_run=DryRunPolicy(app_setting=settings.dry_run, baseline=baseline.dry_run),
            record_upn=settings.record_upn,
            defer_policy=DeferPolicy(
                base_seconds=settings.defer_base_seconds, budget_seconds=settings.defer_budget_seconds
            ),
            **({"clock": clock} if clock else {}),
            safety=SafetyGuard(state, audit, SafetyLimits.from_settings(settings),
                               **({"clock": clock} if clock else {})),
            key_sampler=key_expiry_reader(settings, credential),
        )
        intake = EventIntake(engine, own_identity=own)
        return cls(settings, baseline, credential, gateway, storage, state, audit, engine, intake, own)


class StartupFailed(RuntimeError):
    """The app settings or the baseline are unusable, so no trigger can do its work. The message names
    the setting or baseline field at fault; triggers report it (HTTP 503, an `alert` from the poison path)."""


# The `baseline` field of records written while no baseline could be loaded.
NO_BASELINE = "0" * 64


def key_expiry_reader(settings: Settings, credential: TokenCredential) -> KeyExpiryReader:
    """The data-plane sampler; `WARDEN_KEY_EXPIRY_LOCAL_ENDPOINTS` (loopback only) redirects named caches to a
    local redis-server for development and the demo."""
    local = settings.key_expiry_local_endpoints

    def endpoints(cache: ResourceId) -> RedisEndpoint | None:
        target = local.get(cache.arm_id.lower())
        return RedisEndpoint(*target) if target else None

    return KeyExpiryReader(credential, ca_file=settings.key_expiry_ca_file, endpoints=endpoints if local else None)


_lock = threading.Lock()
_runtime: Runtime | None = None
_fallback: AuditTrail | None = None


def get_runtime(env: Mapping[str, str] | None = None) -> Runtime:
    """The process-wide runtime, built on first use from the app settings. A configuration error (a
    ValueError naming the bad setting or baseline field) becomes StartupFailed, and is tried again on
    the next invocation (a fixed setting needs no restart)."""
    global _runtime
    with _lock:
        if _runtime is None:
            try:
                _runtime = Runtime.build(Settings.from_env(env if env is not None else os.environ))
            except ValueError as exc:
                raise StartupFailed(f"redis-warden cannot start: {exc}") from exc
        return _runtime


def fallback_trail(env: Mapping[str, str] | None = None) -> AuditTrail:
    """An audit trail that needs only the storage and signing settings, for the poison path when the
    runtime cannot start (a bad baseline must not make poison messages vanish without an `alert`).
    Raises when the settings themselves are unusable: then nothing can be written anywhere."""
    global _fallback
    with _lock:
        if _fallback is None:
            settings = Settings.from_env(env if env is not None else os.environ)
            if settings.storage is None and not settings.audit_file:
                raise ValueError("AzureWebJobsStorage: required")
            credential = DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
            blob_service = None
            if not settings.audit_file and settings.storage is not None:
                blob_service = StorageClients(settings.storage, credential).blob_service
            _fallback = open_trail(
                audit_file=settings.audit_file,
                blob_service=blob_service,
                container=settings.audit_container,
                checkpoint_container=settings.checkpoint_container,
                signing_key=settings.signing_key,
                baseline_hash=NO_BASELINE,
                our_identity=None,
                record_upn=settings.record_upn,
                credential=credential,
            )
        return _fallback


def reset_runtime() -> None:
    """Forget the process-wide runtime (tests and the dev host reload settings with it)."""
    global _runtime, _fallback
    with _lock:
        if _runtime is not None:
            _runtime.audit.close()
        if _fallback is not None:
            _fallback.close()
        _runtime = None
        _fallback = None


def utcnow() -> datetime:
    return datetime.now(UTC)
