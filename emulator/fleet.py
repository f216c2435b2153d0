"""Fleet files: the caches an emulator starts with, validated with `fleet.schema.json`.

A fleet is what a person would get from ARM (GET bodies and list `value` items), so fixtures can be
copied from real responses; anything the emulator does not understand is refused up front with a message
naming the offending key, instead of being silently ignored and making a test pass for the wrong reason.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_PATH = Path(__file__).with_name("fleet.schema.json")
CACHE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[0-9a-fA-F-]{36})/resourceGroups/(?P<rg>[A-Za-z0-9_.()\-]{1,90})"
    r"/providers/Microsoft\.Cache/Redis/(?P<name>[A-Za-z0-9-]{1,63})$",
    re.IGNORECASE,
)


# Keys beside `properties` that are not part of the cache's GET body: children, related resources, knobs.
CHILD_KEYS = ("firewallRules", "diagnosticSettings", "linkedServers", "privateDnsZoneGroups", "metricAlerts",
              "networkSecurityGroup", "scheduledQueryRules", "policyStates", "x-emulator")


class FleetError(ValueError):
    """The fleet document is invalid; the message names where and why."""


@dataclass(frozen=True)
class CacheSeed:
    """One validated fleet entry, split into the GET body, its children and the emulator knobs."""

    subscription_id: str
    resource_group: str
    name: str
    body: Mapping[str, Any]
    firewall_rules: tuple[Mapping[str, Any], ...]
    diagnostic_settings: tuple[Mapping[str, Any], ...]
    knobs: Mapping[str, Any]
    linked_servers: tuple[Mapping[str, Any], ...] = ()
    private_dns_zone_groups: tuple[Mapping[str, Any], ...] = ()
    metric_alerts: tuple[Mapping[str, Any], ...] = ()
    network_security_group: Mapping[str, Any] | None = None  # the NSG on properties.subnetId, if any
    scheduled_query_rules: tuple[Mapping[str, Any], ...] = ()  # log alert rules in the entry's subscription
    policy_states: tuple[Mapping[str, Any], ...] = ()  # Azure Policy's latest states for this cache


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _where(path: Sequence[Any]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def validate_fleet(document: Any) -> None:
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"{_where(e.absolute_path)}: {e.message}" for e in errors[:10]]
        raise FleetError("invalid fleet:\n  " + "\n  ".join(lines))


def _check_ip(value: str, where: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise FleetError(f"{where}: {value!r} is not an IPv4 address") from exc


def load_fleet(source: str | Path | Sequence[Mapping[str, Any]]) -> list[CacheSeed]:
    """Parse and validate a fleet from a JSON file path or an already-loaded list."""
    if isinstance(source, str | Path):
        try:
            document = json.loads(Path(source).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FleetError(f"{source}: not JSON: {exc}") from exc
    else:
        document = json.loads(json.dumps(source))  # deep copy, and proves it is JSON-serialisable
    validate_fleet(document)
    seeds: list[CacheSeed] = []
    seen: set[str] = set()
    for index, entry in enumerate(document):
        if str(entry.get("type", "")).lower() == "microsoft.cache/redisenterprise":
            continue  # an Azure Managed Redis cluster: emulator.enterprise_fleet.load_clusters
        where = f"$[{index}]"
        match = CACHE_ID.match(entry["id"])
        if match is None:
            raise FleetError(f"{where}.id: {entry['id']!r} is not a Microsoft.Cache/Redis resource id")
        if match["name"].lower() != entry["name"].lower():
            raise FleetError(f"{where}.name: {entry['name']!r} does not match the id's last segment")
        if entry["id"].lower() in seen:
            raise FleetError(f"{where}.id: duplicate cache {entry['id']!r}")
        seen.add(entry["id"].lower())
        for r, rule in enumerate(entry.get("firewallRules", ())):
            props = rule["properties"]
            start = _check_ip(props["startIP"], f"{where}.firewallRules[{r}].properties.startIP")
            end = _check_ip(props["endIP"], f"{where}.firewallRules[{r}].properties.endIP")
            if start > end:
                raise FleetError(f"{where}.firewallRules[{r}]: startIP is after endIP")
        if "networkSecurityGroup" in entry and not (entry.get("properties") or {}).get("subnetId"):
            raise FleetError(f"{where}.networkSecurityGroup: only a cache with properties.subnetId has a subnet NSG")
        knobs = dict(entry.get("x-emulator", {}))
        if "busyForGets" in knobs and "provisioningSequence" in knobs:
            raise FleetError(f"{where}.x-emulator: use busyForGets or provisioningSequence, not both")
        body = {k: v for k, v in entry.items() if k not in CHILD_KEYS}
        body.setdefault("type", "Microsoft.Cache/Redis")
        body.setdefault("tags", {})
        seeds.append(
            CacheSeed(
                subscription_id=match["sub"].lower(),
                resource_group=match["rg"],
                name=match["name"],
                body=body,
                firewall_rules=tuple(entry.get("firewallRules", ())),
                diagnostic_settings=tuple(entry.get("diagnosticSettings", ())),
                knobs=knobs,
                linked_servers=tuple(entry.get("linkedServers", ())),
                private_dns_zone_groups=tuple(entry.get("privateDnsZoneGroups", ())),
                metric_alerts=tuple(entry.get("metricAlerts", ())),
                network_security_group=entry.get("networkSecurityGroup"),
                scheduled_query_rules=tuple(entry.get("scheduledQueryRules", ())),
                policy_states=tuple(entry.get("policyStates", ())),
            )
        )
    return seeds
