"""tls-min-version: clients must negotiate TLS 1.2 or newer.

Decisions (documented in the metadata pitfalls too):
- Azure Cache for Redis: an absent/null `minimumTlsVersion` is non-compliant. That is stricter than PSRule
  AZR-000164 (`hasDefault '1.2'`) and matches Checkov CKV_AZURE_148: an absent value means the cache accepts
  whatever the service default is today, and the audit trail should show an explicit 1.2.
- Azure Managed Redis has its own rule (`amr-tls-min-version`) sharing `judge_min_tls`: there an absent
  value is compliant, since the service accepts only TLS 1.2+.
- A version newer than 1.2 ("1.3", which the spec says may be added) is compliant: patching it down to 1.2
  would weaken the cache, which a remediation must never do.
- Values are version strings of digits; they have no letter case. A value that is not a version string is
  `unknown` rather than overwritten, since we cannot tell whether it is weaker or stronger.
"""

from __future__ import annotations

import re

from ...models import CacheSnapshot, Effect, PropertyFix, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..frameworks import IN_TRANSIT

REQUIRED = "1.2"
_REQUIRED_TUPLE = (1, 2)
_VERSION = re.compile(r"^(\d{1,3})\.(\d{1,3})$")

METADATA = RuleMetadata(
    id="tls-min-version",
    frameworks=IN_TRANSIT,
    title="Minimum TLS version is 1.2",
    severity=Severity.HIGH,
    rationale=(
        "TLS 1.0 and 1.1 have known weaknesses and are retired by Azure; Entra authentication also needs "
        "TLS 1.2+ connections."
    ),
    resource_types=(CacheKind.REDIS,),
    default_effect=Effect.REMEDIATE,
    remediation_kind="patch",
    remediation='PATCH properties.minimumTlsVersion = "1.2" (dict body holding only that field).',
    what_could_break=(
        "Clients that can only speak TLS 1.0/1.1 can no longer connect. The change is one-way: since "
        "2024-03-01 ARM refuses to set 1.0/1.1 again."
    ),
    azure_policy=(),
    psrule=("Azure.Redis.MinTLS", "AZR-000164"),
    checkov=("CKV_AZURE_148",),
    pitfalls=(
        "No Azure Policy built-in audits the TLS version.",
        "PSRule's hasDefault '1.2' passes an absent value; this rule treats absent as non-compliant on "
        "Azure Cache for Redis (as Checkov does).",
        "`az redis update` cannot change the TLS version of an existing cache; use ARM/PowerShell.",
        "There is no '1.3' enum value today; a future value above 1.2 is treated as compliant, "
        "never lowered.",
        "Azure Managed Redis accepts only TLS 1.2+, so an absent value there is compliant.",
    ),
)


def _parse(value: str) -> tuple[int, int] | None:
    m = _VERSION.match(value.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def judge_min_tls(value: object, *, absent: str | None) -> Verdict:
    """The verdict on a `minimumTlsVersion` value. `absent` is the compliant reason to give when the value
    is not set, or None when an absent value is itself drift."""
    if value is None:
        if absent is not None:
            return Verdict(Status.COMPLIANT, absent)
        return _fix(None, "minimumTlsVersion is not set (the service default applies)")
    if not isinstance(value, str) or (version := _parse(value)) is None:
        return Verdict(Status.UNKNOWN, f"minimumTlsVersion has an unexpected value {value!r}", before=value)
    if version < _REQUIRED_TUPLE:
        return _fix(value, f"minimumTlsVersion is {value}, below {REQUIRED}")
    return Verdict(Status.COMPLIANT, f"minimumTlsVersion is {value}", before=value)


def _fix(before: str | None, reason: str) -> Verdict:
    return Verdict(
        Status.NON_COMPLIANT, reason, before=before, after=REQUIRED,
        remediation=PropertyFix({"minimumTlsVersion": REQUIRED}),
    )


class TlsMinVersionRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        return judge_min_tls(snapshot.properties.get("minimumTlsVersion"), absent=None)


RULE = TlsMinVersionRule()
