"""Column names and types of the connection-log tables, as Microsoft documents them (Azure Monitor table
reference; read through the search tool, 2026-12-02):
- ACRConnectedClientList: learn.microsoft.com/azure/azure-monitor/reference/tables/acrconnectedclientlist
- ACREntraAuthenticationAuditLog (diagnostic category MSEntraAuthenticationAuditLog; there is no table named
  ACRMSEntraAuthenticationAuditLog): .../reference/tables/acrentraauthenticationauditlog
- REDConnectionEvents (Azure Managed Redis, category ConnectionEvents): .../reference/tables/redconnectionevents
Only the documented columns exist here, so a query naming any other column fails its test.
"""

from __future__ import annotations

from datetime import datetime

_COMMON = {"_BilledSize": float, "_IsBillable": str, "_ResourceId": str, "_SubscriptionId": str,
           "SourceSystem": str, "TenantId": str, "TimeGenerated": datetime, "Type": str}

SCHEMAS: dict[str, dict[str, type]] = {
    "ACRConnectedClientList": {
        **_COMMON, "CacheName": str, "ClientCount": int, "ClientIp": str, "Location": str, "OperationName": str,
        "PrivateLinkIpv6": str, "RoleInstance": str,
    },
    "ACREntraAuthenticationAuditLog": {
        **_COMMON, "Authentication": str, "CacheName": str, "ClientId": str, "ClientName": str, "IpAddress": str,
        "Lifetime": str, "Location": str, "Message": str, "OperationName": str, "RoleInstance": int,
        "Username": str,
    },
    "REDConnectionEvents": {
        **_COMMON, "ClientIp": str, "ConnectionId": int, "EventEpochTime": int, "EventStatus": int,
        "EventType": str, "Location": str, "OperationName": str, "PrivateLinkIPv6": str,
    },
}

_DEFAULTS = {str: "", int: 0, float: 0.0}


def row(table: str, **values: object) -> dict[str, object]:
    """A row with every documented column (defaults for the ones not given); refuses unknown columns and
    values of the wrong type (None is allowed: Log Analytics leaves columns empty)."""
    schema = SCHEMAS[table]
    unknown = set(values) - set(schema)
    if unknown:
        raise KeyError(f"{table} has no column {sorted(unknown)}")
    out: dict[str, object] = {c: _DEFAULTS.get(t) for c, t in schema.items()}
    out["Type"] = table
    out["TimeGenerated"] = datetime(2026, 12, 2, 12, 0)
    for c, v in values.items():
        if v is not None and not isinstance(v, schema[c]):
            raise TypeError(f"{table}.{c} is {schema[c].__name__}, got {v!r}")
        out[c] = v
    return out
