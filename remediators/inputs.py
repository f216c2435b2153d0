"""Which snapshot inputs one reconcile reads: the baseline's needs, trimmed to what this trigger can use.

Pure: the engine asks before every `gateway.read`. Two trims, each saving ARM calls on every cache event:
- Scan-only inputs (metric alert rules: separate resources, listed per resource group) are read only when
  the work item comes from a scan (design section 3: "evaluated in scans, not on every cache event"). On
  an event they are reported back as `skipped`, and the rule says `not_applicable` rather than `unknown`.
- The key-expiry sample is read over the cache's data plane, so only in scans and only for a cache whose
  scope opted in to `key-expiry` (the operator granted the data access policy there); otherwise it is
  skipped, and the rule says `not_applicable`.
- Private DNS zone groups are evidence for public-network-access's remediation only: when that rule's
  effect is not `remediate` nothing can act on them, so they are not read (the finding is unchanged).
"""

from __future__ import annotations

from .baseline import Baseline
from .models import Effect
from .resource_ids import ResourceId
from .rules.key_expiry import RULE_ID as KEY_EXPIRY
from .rules.redis.public_network_access import RULE_ID as PUBLIC_NETWORK_ACCESS
from .workitem import WorkItem

SCAN_ONLY_INPUTS = frozenset({"metric_alerts", "key_expiry", "log_alert_rules", "policy_states"})
OPT_IN_INPUTS = {"key_expiry": KEY_EXPIRY}
REMEDIATION_EVIDENCE = {"private_dns_zone_groups": PUBLIC_NETWORK_ACCESS}


def is_scan(item: WorkItem) -> bool:
    """A scan's item, also after it was deferred (the trigger keeps its scan id)."""
    return item.reason == "scan" or "scan_id" in item.trigger


def snapshot_inputs(baseline: Baseline, cache: ResourceId, *, scan: bool) -> tuple[frozenset[str], frozenset[str]]:
    """(inputs to read, inputs deliberately skipped because this is not a scan)."""
    needs = set(baseline.needs(cache.kind))
    skipped = frozenset() if scan else frozenset(needs & SCAN_ONLY_INPUTS)
    needs -= skipped
    opted_in = baseline.opt_in(cache)
    for name, rule_id in OPT_IN_INPUTS.items():
        if name in needs and rule_id not in opted_in:
            needs.discard(name)
    for name, rule_id in REMEDIATION_EVIDENCE.items():
        if name in needs and baseline.effect(rule_id) is not Effect.REMEDIATE:
            needs.discard(name)
    return frozenset(needs), skipped
