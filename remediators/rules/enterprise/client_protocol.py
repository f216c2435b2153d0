"""amr-client-protocol: clients of an Azure Managed Redis database must use TLS.

The database property `clientProtocol` is `Encrypted` or `Plaintext`; the spec says the default is
TLS-encrypted, so an absent value is compliant. `Plaintext` is the Azure Managed Redis twin of the non-TLS
port on Azure Cache for Redis, and is remediated by default like `non-ssl-port` (issue 7): a database PATCH
`{"properties": {"clientProtocol": "Encrypted"}}`. A value outside the enum is `unknown`, never overwritten.
"""

from __future__ import annotations

from ...models import CacheSnapshot, DatabaseFix, Effect, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..frameworks import IN_TRANSIT
from .common import databases, same_enum

RULE_ID = "amr-client-protocol"

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=IN_TRANSIT,
    title="Azure Managed Redis databases accept TLS connections only",
    severity=Severity.HIGH,
    rationale=(
        "With clientProtocol Plaintext the access key and every command cross the network in clear text; "
        "MCSB DP-3 requires encryption in transit."
    ),
    resource_types=(CacheKind.REDIS_ENTERPRISE,),
    default_effect=Effect.REMEDIATE,
    remediation_kind="patch",
    remediation='PATCH each Plaintext database: properties.clientProtocol = "Encrypted" (only that field).',
    what_could_break=(
        "Clients connecting without TLS lose their connection; TLS and plaintext share port 10000, so there "
        "is no port-based signal of who still depends on plaintext. The old value is in the audit trail and "
        "an exemption keeps a database on Plaintext."
    ),
    pitfalls=(
        "No Azure Policy built-in, PSRule or Checkov rule checks clientProtocol.",
        "The rule catalogue advises opt-in because plaintext and TLS share one port; issue 7 makes it "
        "remediate by default, like non-ssl-port: use an exemption for a database that must stay plaintext.",
        "An absent value is the spec default Encrypted.",
    ),
)


class AmrClientProtocolRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        dbs = databases(snapshot)
        if dbs is None:
            return Verdict(Status.UNKNOWN, "the cluster's databases were not read")
        if not dbs:
            return Verdict(Status.NOT_APPLICABLE, "the cluster has no database")
        plaintext, odd = [], []
        for name, props in dbs:
            value = props.get("clientProtocol")
            if value is None or same_enum(value, "Encrypted"):
                continue
            (plaintext if same_enum(value, "Plaintext") else odd).append((name, value))
        before = {name: props.get("clientProtocol") for name, props in dbs}
        if plaintext:
            names = ", ".join(n for n, _ in plaintext)
            return Verdict(
                Status.NON_COMPLIANT,
                f"clientProtocol is Plaintext on database(s) {names}",
                before=before,
                after={n: "Encrypted" for n, _ in plaintext},
                remediation=DatabaseFix({n: {"clientProtocol": "Encrypted"} for n, _ in plaintext}),
            )
        if odd:
            shown = ", ".join(f"{n}={v!r}" for n, v in odd)
            return Verdict(Status.UNKNOWN, f"clientProtocol has an unexpected value: {shown}", before=before)
        return Verdict(Status.COMPLIANT, "every database accepts TLS connections only", before=before)


RULE = AmrClientProtocolRule()
