"""The rule registry: every control redis-warden knows, in one ordered tuple.

Rules are grouped by the resource kind they judge: `redis/` (Azure Cache for Redis) and `enterprise/` (Azure
Managed Redis); a rule that judges both kinds alike (`key_expiry`, over the Redis data plane) sits beside
`base.py`. To add a rule, write `remediators/rules/<kind>/<name>.py` exposing `RULE` (an object with
`.metadata` and `.evaluate(snapshot, ctx) -> Verdict`) and append `"<kind>.<name>"` to `RULE_MODULES`.
The order here is the order findings are reported in, so keep it stable. Rule ids must be unique; a duplicate
or a module without a usable `RULE` fails at import, so a broken registry can never run with a rule silently
missing.
"""

from __future__ import annotations

from importlib import import_module

from .base import Rule

RULE_MODULES: tuple[str, ...] = (
    "redis.non_ssl_port",
    "redis.tls_min_version",
    "redis.firewall",
    # other engineers: append one line per rule module below
    "redis.public_network_access",
    "redis.entra_auth",
    "redis.access_keys",
    "redis.diagnostic_logs",
    "redis.data_residency",
    "redis.no_auth",
    "redis.metric_alerts",
    "enterprise.tls_min_version",
    "enterprise.public_network_access",
    "enterprise.client_protocol",
    "enterprise.access_keys",
    "enterprise.diagnostic_logs",
    "enterprise.cmk",
    "key_expiry",
    "redis.redis_version",
    "redis.nsg",
    "auth_alerts",
    "azure_policy",
)


def _load(module_names: tuple[str, ...]) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    seen: set[str] = set()
    for name in module_names:
        module = import_module(f"{__name__}.{name}")
        rule = getattr(module, "RULE", None)
        if rule is None or not callable(getattr(rule, "evaluate", None)) or not hasattr(rule, "metadata"):
            raise ImportError(f"rules module {name!r} does not expose RULE with metadata and evaluate()")
        rule_id = rule.metadata.id
        if rule_id in seen:
            raise ImportError(f"duplicate rule id {rule_id!r} (module {name!r})")
        seen.add(rule_id)
        rules.append(rule)
    return tuple(rules)


ALL_RULES: tuple[Rule, ...] = _load(RULE_MODULES)
_BY_ID: dict[str, Rule] = {r.metadata.id: r for r in ALL_RULES}


def rule_by_id(rule_id: str) -> Rule:
    """The registered rule with this id; KeyError names the unknown id (baseline validation relies on it)."""
    try:
        return _BY_ID[rule_id]
    except KeyError:
        raise KeyError(f"unknown rule id {rule_id!r}") from None


def rule_ids() -> tuple[str, ...]:
    return tuple(_BY_ID)


__all__ = ["ALL_RULES", "RULE_MODULES", "rule_by_id", "rule_ids"]
