"""Which snapshot inputs one reconcile reads: the baseline's needs, trimmed to what this trigger can use.

Pure: the engine asks before every `gateway.read`. Two trims, each saving ARM calls on every cache event:
- Scan-only inputs (metric alert rules: separate resources, listed per resource group) are read only when
  the work item comes from a scan (design section 3: "evaluated in scans, not on every cache event"). On
  an event they are reported back as `skipped`, and the rule says `not_applicable` rather than `unknown`.
- Private DNS zone groups are evidence for public-network-access's remediation only: when that rule's
  effect is not `remediate` nothing can act on them, so they are not read (the finding is unchanged).
"""

from __future__ import annotations

from .baseline import Baseline
from .models import Effect
from .resource_ids import ResourceId
from .rules.public_network_access import RULE_ID as PUBLIC_NETWORK_ACCESS
from .workitem import WorkItem

SCAN_ONLY_INPUTS = frozenset({"metric_alerts"})
REMEDIATION_EVIDENCE = {"private_dns_zone_groups": PUBLIC_NETWORK_ACCESS}


def is_scan(item: WorkItem) -> bool:
    """A scan's item, also after it was deferred (the trigger keeps its scan id)."""
    return item.reason == "scan" or "scan_id" in item.trigger


def snapshot_inputs(baseline: Baseline, cache: ResourceId, *, scan: bool) -> tuple[frozenset[str], frozenset[str]]:
    """(inputs to read, inputs deliberately skipped because this is not a scan)."""
    needs = set(baseline.needs(cache.kind))
    skipped = frozenset() if scan else frozenset(needs & SCAN_ONLY_INPUTS)
    needs -= skipped
    for name, rule_id in REMEDIATION_EVIDENCE.items():
        if name in needs and baseline.effect(rule_id) is not Effect.REMEDIATE:
            needs.discard(name)
    return frozenset(needs), skipped
