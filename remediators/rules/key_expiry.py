"""key-expiry: most keys should expire, so cached personal data is removed without anyone acting.

Microsoft's Redis security guidance: "set expiration values on cache keys to automatically remove data"
(data minimisation; UK GDPR Art. 5(1)(c) and (e)). No ARM property shows it, so the evidence is a sample of
the key space read over the data plane (`remediators/dataplane`): SCAN + PTTL, never a value, bounded and
rate-limited. Reading a cache's key names needs a data access policy the operator grants, so sampling runs
only for scopes that opt in (`optIn: ["key-expiry"]`) and only in scans, never on every cache event.

Verdicts: not opted in -> `not_applicable`; opted in but not sampled (an event reconcile) ->
`not_applicable` ("sampled in scans"); the sample failed (no access policy, unreachable, host refused) ->
`unknown` with the reason; more than `maxShareWithoutTtl` of the sampled keys without a TTL ->
`non_compliant`, a manual action naming the prefixes that hold most of them. An empty cache is compliant.
"""

from __future__ import annotations

from ..models import CacheSnapshot, Effect, Severity, Status
from ..resource_ids import CacheKind
from .base import RuleContext, RuleMetadata, Verdict
from .common import manual
from .frameworks import RETENTION

RULE_ID = "key-expiry"
DEFAULT_MAX_SHARE = 0.2  # a few long-lived keys (configuration, counters) are normal; most should expire

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=RETENTION,
    title="Most keys expire (sampled, opt-in)",
    severity=Severity.LOW,
    rationale=(
        "Keys without an expiry keep whatever they hold until someone deletes it; Microsoft's guidance is to "
        "set expiration values so data is removed automatically (data minimisation)."
    ),
    resource_types=(CacheKind.REDIS, CacheKind.REDIS_ENTERPRISE),
    default_effect=Effect.AUDIT,
    remediation_kind="manual",
    remediation=(
        "Set expirations in the applications that write the keys (SET ... EX, EXPIRE) under the prefixes the "
        "finding names; the warden never changes data."
    ),
    what_could_break="Nothing: detect only. Sampling sends SCAN and PTTL, rate-limited, and reads no value.",
    pitfalls=(
        "Needs a data access policy granting the warden's identity +scan +pttl on the cache (docs/deploy.md); "
        "Azure Managed Redis offers only the full-access 'default' policy, so opting an AMR scope in grants "
        "the identity data access.",
        "A sample of a clustered cache (OSS cluster policy, clustered Premium) covers one shard.",
        "Key names can hold personal data: only namespace-like prefixes shared by several keys are reported.",
    ),
    needs=frozenset({"key_expiry"}),
    opt_in_reads=True,
)


def _max_share(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        return None
    return float(value)


class KeyExpiryRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        if not ctx.opted_in:
            return Verdict(Status.NOT_APPLICABLE, "the scope has not opted in to key-expiry sampling")
        report = snapshot.key_expiry
        if report is None and snapshot.key_expiry_error:
            return Verdict(Status.UNKNOWN, f"the key space could not be sampled: {snapshot.key_expiry_error}")
        if report is None and "key_expiry" in snapshot.skipped_inputs:
            return Verdict(Status.NOT_APPLICABLE, "sampled in scans, not on cache events")
        if report is None:
            return Verdict(Status.UNKNOWN, "the key space was not sampled")
        limit = _max_share(ctx.params.get("maxShareWithoutTtl", DEFAULT_MAX_SHARE))
        if limit is None:
            return Verdict(Status.UNKNOWN, "maxShareWithoutTtl must be a number from 0 to 1")
        share = report.share_without_ttl
        evidence = report.as_dict()
        if share is None:
            return Verdict(Status.COMPLIANT, "no keys in the sample", before=evidence)
        summary = (
            f"{report.without_ttl} of {report.sampled} sampled keys ({share:.0%}) have no expiry"
            + ("" if report.complete else " (a bounded sample, not the whole key space)")
        )
        if share <= limit:
            return Verdict(Status.COMPLIANT, f"{summary}; at most {limit:.0%} allowed", before=evidence)
        worst = ", ".join(f"{p.prefix} ({p.without_ttl} of {p.sampled})" for p in report.top_prefixes[:5])
        return manual(
            f"{summary}, more than the {limit:.0%} allowed",
            f"Set expirations (SET ... EX / EXPIRE) in the applications writing these prefixes: {worst}.",
            before=evidence,
        )


RULE = KeyExpiryRule()
