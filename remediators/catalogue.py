"""Render docs/baseline.md: the control catalogue, generated from the rule metadata and the shipped baseline.

Generated rather than written so the page cannot drift from what the code enforces: a test fails when the
committed file differs from `render()`. Rules added to the registry appear automatically. The list of
Azure Policy built-ins we deliberately do not implement is data here, because "why not" is a decision that
no metadata carries; a test checks it against the reference copy of the definitions.

Usage: `python -m remediators.catalogue` rewrites the file; `--check` exits 1 when it is stale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .baseline import Baseline, load_baseline
from .rules.base import Rule

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "baseline.md"


@dataclass(frozen=True)
class PolicyRef:
    id: str
    name: str


# Display names of the 21 Redis built-ins (Azure/azure-policy at f4a50bac), so the page needs no network.
POLICY_NAMES: dict[str, str] = {
    "22bee202-a82f-4305-9a2a-6d7f44d4dedb": "Only secure connections to your Azure Cache for Redis should be enabled",
    "766f5de3-c6c0-4327-9f4d-042ab8ae846c": "Configure Azure Cache for Redis to disable non SSL ports",
    "470baccb-7e51-4549-8b1a-3e5be069f663": "Azure Cache for Redis should disable public network access",
    "30b3dfa5-a70d-4c8e-bed6-0083858f663d": "Configure Azure Cache for Redis to disable public network access",
    "3827af20-8f80-4b15-8300-6db0873ec901": "Azure Cache for Redis should not use access keys for authentication",
    "aec4c33f-2f2a-4fd3-91cd-24a939513c60": (
        "Enable logging by category group for Azure Cache for Redis (microsoft.cache/redis) to Log Analytics"
    ),
    "a142867f-3142-4ac6-b952-ab950a29fca5": (
        "Enable logging by category group for Azure Cache for Redis (microsoft.cache/redis) to Event Hub"
    ),
    "d3e11828-02c8-40d2-a518-ad01508bb4d7": (
        "Enable logging by category group for Azure Cache for Redis (microsoft.cache/redis) to Storage"
    ),
    "7d092e0a-7acd-40d2-a975-dca21cae48c4": (
        "[Deprecated]: Azure Cache for Redis should reside within a virtual network"
    ),
    "1bf67da8-b100-45bf-b89d-e4669fc54411": "[Preview]: Azure Cache for Redis should be Zone Redundant",
    "408934a8-941a-4c1e-ba88-dd035d9688f4": (
        "[Preview]: Azure Cache for Redis Enterprise & Flash should be Zone Redundant"
    ),
    "7803067c-7d34-46e3-8c79-0ca68fc4036d": "Azure Cache for Redis should use private link",
    "5d8094d7-7340-465a-b6fd-e60ab7e48920": "Configure Azure Cache for Redis with private endpoints",
    "e016b22b-e0eb-436d-8fd7-160c4eaed6e2": "Configure Azure Cache for Redis to use private DNS zones",
    "09aa11bb-87ec-409f-bf0b-49b7c1561a87": (
        "Azure Cache for Redis Enterprise should use customer-managed keys for encrypting disk data"
    ),
    "7473e756-98d9-4d10-9a22-8101ef32cd74": "Configure Azure Cache for Redis Enterprise to use private DNS zones",
    "960e650e-9ce3-4316-9590-8ee2c016ca2f": "Azure Cache for Redis Enterprise should use private link",
    "1b1df1e6-d60f-4430-9390-2b0c83aae4a7": "Configure Azure Cache for Redis Enterprise with private endpoints",
    "145ff119-bfcf-443a-834c-b59859ec3ee7": (
        "Enable logging by category group for Caches (microsoft.cache/redisenterprise/databases) to Event Hub"
    ),
    "fa570aa1-acca-4eea-8e5a-233cf2c5e4c2": (
        "Enable logging by category group for Caches (microsoft.cache/redisenterprise/databases) to Log Analytics"
    ),
    "e76ef589-c7d6-42cf-a61a-13471f6f50cd": (
        "Enable logging by category group for Caches (microsoft.cache/redisenterprise/databases) to Storage"
    ),
}

_AMR_DINE = (
    "DeployIfNotExists to a sink other than Log Analytics; amr-diagnostic-logs sends ConnectionEvents of the "
    "default database to the configured workspace and never deploys templates."
)
_DINE_SINK = (
    "DeployIfNotExists to a sink other than Log Analytics; the diagnostic-logs rule sends the two required "
    "categories to the configured workspace and never deploys templates."
)
_PE = (
    "Creating private endpoints and DNS zones needs subnet, DNS and approval decisions that a remediation "
    "must not take; public-network-access only closes the public path once they exist."
)

# Definitions we deliberately do not implement, and why.
OUT_OF_SCOPE: dict[str, str] = {
    "7d092e0a-7acd-40d2-a975-dca21cae48c4": (
        "Deprecated: VNet injection is chosen at creation (Premium only) and cannot be applied to an existing "
        "cache; private endpoints replaced it (Defender for Cloud, April 2022)."
    ),
    "1bf67da8-b100-45bf-b89d-e4669fc54411": (
        "Zone redundancy is resilience, not security, and changing zones is a scale or re-create decision."
    ),
    "408934a8-941a-4c1e-ba88-dd035d9688f4": (
        "Zone redundancy is resilience, not security, and changing zones re-creates the cluster."
    ),
    "a142867f-3142-4ac6-b952-ab950a29fca5": _DINE_SINK,
    "d3e11828-02c8-40d2-a518-ad01508bb4d7": _DINE_SINK,
    "7803067c-7d34-46e3-8c79-0ca68fc4036d": "AuditIfNotExists on private endpoints. " + _PE,
    "5d8094d7-7340-465a-b6fd-e60ab7e48920": "DeployIfNotExists of a private endpoint. " + _PE,
    "e016b22b-e0eb-436d-8fd7-160c4eaed6e2": "DeployIfNotExists of a private DNS zone group. " + _PE,
    "7473e756-98d9-4d10-9a22-8101ef32cd74": "DeployIfNotExists of a private DNS zone group (Azure Managed Redis). "
    + _PE,
    "960e650e-9ce3-4316-9590-8ee2c016ca2f": "AuditIfNotExists on private endpoints (Azure Managed Redis). " + _PE,
    "1b1df1e6-d60f-4430-9390-2b0c83aae4a7": "DeployIfNotExists of a private endpoint (Azure Managed Redis). " + _PE,
    "145ff119-bfcf-443a-834c-b59859ec3ee7": _AMR_DINE,
    "e76ef589-c7d6-42cf-a61a-13471f6f50cd": _AMR_DINE,
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _policies(ids: Sequence[str]) -> str:
    if not ids:
        return "none"
    return "; ".join(f"{POLICY_NAMES.get(i, 'unknown definition')} (`{i[:8]}`)" for i in ids)


def _codes(values: Sequence[str]) -> str:
    return ", ".join(f"`{v}`" for v in values) if values else "none"


def _rule_section(rule: Rule, baseline: Baseline) -> list[str]:
    md = rule.metadata
    kinds = ", ".join(f"`{k}`" for k in md.resource_types)
    lines = [
        f"### `{md.id}`: {md.title}",
        "",
        f"- **Severity**: {md.severity}. **Default effect**: {baseline.effect(md.id)}. "
        f"**Applies to**: {kinds}.",
        f"- **Why**: {md.rationale}",
        f"- **How it is fixed** ({md.remediation_kind}"
        + (", disruptive: opt-in per scope and inside a maintenance window only" if md.disruptive else "")
        + f"): {md.remediation}",
        f"- **What could break**: {md.what_could_break}",
        f"- **Azure Policy**: {_policies(md.azure_policy)}",
        f"- **PSRule**: {_codes(md.psrule)}. **Checkov**: {_codes(md.checkov)}.",
        f"- **Frameworks**: {'; '.join(str(f) for f in md.frameworks) or 'none'}",
        f"- **Reads besides the cache body**: {_codes(sorted(md.needs))}",
    ]
    if md.pitfalls:
        lines += ["- **Pitfalls**:"] + [f"  - {p}" for p in md.pitfalls]
    return [*lines, ""]


def render(rules: Sequence[Rule] | None = None, baseline: Baseline | None = None) -> str:
    baseline = baseline or load_baseline(None, rules=rules)
    rules = baseline.rules
    out = [
        "# Baseline catalogue",
        "",
        "<!-- Generated by `python -m remediators.catalogue` from the rule metadata and "
        "remediators/default_baseline.json. Do not edit by hand. -->",
        "",
        "Every control redis-warden evaluates, with the effect the shipped default baseline gives it. Effects "
        "are `remediate` (fix it), `audit` (report only) and `disabled`; a finding is `compliant`, "
        "`non_compliant`, `not_applicable`, `exempt` or `unknown` (an input that was not read, never "
        "treated as compliant).",
        "",
        ("The shipped default makes the service dry-run of its own (`dryRun: true`), "
         if baseline.dry_run else
         "The shipped default has no `dryRun` of its own (the `WARDEN_DRY_RUN` app setting, `true` on a fresh "
         "deploy, is the one switch), ")
        + "no firewall allowed ranges (so "
        "the firewall rule reports a manual action until ranges are configured for a scope), no opt-ins and "
        "no maintenance windows (so no disruptive fix runs), and takes the Log Analytics workspace and the "
        "action group from the app settings.",
        "",
        "Both resource types are covered: Azure Cache for Redis (`Microsoft.Cache/redis`) and Azure Managed Redis "
        "(`Microsoft.Cache/redisEnterprise`, whose data-plane settings and logs live on its `default` database). "
        "The `amr-*` rules apply to Azure Managed Redis only; `amr-diagnostic-logs` takes its workspace from its "
        "own `workspaceId` parameter.",
        "",
        "| rule | title | severity | default effect | fix | disruptive | Azure Policy | PSRule |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rule in rules:
        md = rule.metadata
        policies = ", ".join(f"`{i[:8]}`" for i in md.azure_policy) or "none"
        psrule = ", ".join(f"`{p}`" for p in md.psrule if p.startswith("AZR-")) or "none"
        out.append(
            f"| `{md.id}` | {_cell(md.title)} | {md.severity} | {baseline.effect(md.id)} | "
            f"{md.remediation_kind} | {'yes' if md.disruptive else 'no'} | {policies} | {psrule} |"
        )
    out += ["", "## Controls", ""]
    for rule in rules:
        out += _rule_section(rule, baseline)
    out += [
        "## Azure Policy built-ins deliberately out of scope",
        "",
        "The built-ins that audit a Redis property are matched or exceeded by a rule above (a test checks "
        "that our rule flags every cache they flag). These are not implemented, on purpose:",
        "",
        "| definition | name | why not |",
        "|---|---|---|",
    ]
    for pid, why in sorted(OUT_OF_SCOPE.items(), key=lambda kv: POLICY_NAMES[kv[0]]):
        out.append(f"| `{pid[:8]}` | {_cell(POLICY_NAMES[pid])} | {_cell(why)} |")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m remediators.catalogue", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/baseline.md is stale")
    parser.add_argument("--output", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python -m remediators.catalogue", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
