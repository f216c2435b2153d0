"""redis-version: Azure Cache for Redis runs Redis 6 or later.

PSRule's Azure.Redis.Version (AZR-000347) fails a cache whose `redisVersion` is below 6 (or not `latest`).
Redis 4 was retired on 30/06/2023 and caches were upgraded to 6 then, so a 4 today is a cache the upgrade
missed or a body someone shaped. The ARM GET reports the running version ("6.0.14"); a PUT/PATCH takes
"4", "6" or "latest". Detect only: the upgrade is one-way, a Basic cache loses its data during it, and a
geo-replicated cache must be unlinked first (reference/rule-catalog.md).
"""

from __future__ import annotations

import re

from ...models import CacheSnapshot, Effect, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..common import manual
from ..frameworks import PATCHING

RULE_ID = "redis-version"
MINIMUM_MAJOR = 6
_VERSION = re.compile(r"^(\d{1,3})(?:\.\d{1,6}){0,3}$")

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=PATCHING,
    title="Redis 6 or later",
    severity=Severity.MEDIUM,
    rationale=(
        "Redis 4 is retired and lacks ACLs and TLS improvements of Redis 6; unsupported versions get no "
        "security fixes."
    ),
    resource_types=(CacheKind.REDIS,),
    default_effect=Effect.AUDIT,
    remediation_kind="manual",
    remediation="Upgrade the cache to Redis 6 (az redis update --set redisVersion=6) after planning for it.",
    what_could_break=(
        "The upgrade is one-way; Basic caches are unavailable and lose their data while it runs; "
        "geo-replicated caches must be unlinked first."
    ),
    psrule=("Azure.Redis.Version", "AZR-000347"),
    pitfalls=(
        "The GET body reports the running version (e.g. 6.0.14); PUT/PATCH take 4, 6 or latest.",
        "Azure Managed Redis manages its Redis version itself; this rule is for Azure Cache for Redis.",
    ),
)


class RedisVersionRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        if snapshot.cache_id.kind is not CacheKind.REDIS:
            return Verdict(Status.NOT_APPLICABLE, "Azure Managed Redis manages its Redis version")
        value = snapshot.properties.get("redisVersion")
        if value is None:
            return Verdict(Status.UNKNOWN, "redisVersion is not in the cache body")
        text = str(value).strip()
        if text.lower() == "latest":
            return Verdict(Status.COMPLIANT, "redisVersion is latest", before=value)
        match = _VERSION.match(text)
        if match is None:
            return Verdict(Status.UNKNOWN, f"redisVersion {value!r} is not a version", before=value)
        if int(match.group(1)) >= MINIMUM_MAJOR:
            return Verdict(Status.COMPLIANT, f"Redis {text}", before=value)
        return manual(
            f"Redis {text} is older than {MINIMUM_MAJOR} (retired)",
            "Plan the upgrade to Redis 6: one-way; Basic caches lose data; unlink geo-replication first.",
            before=value,
        )


RULE = RedisVersionRule()
