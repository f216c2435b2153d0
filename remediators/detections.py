"""The authentication-anomaly detections infra/ deploys as scheduled query rules, as data.

One entry per detection: its id (the `warden-detection` tag on the alert rule), the cache kind whose
connection logs it reads, the table, and the KQL file in `infra/queries/` (Bicep loads the same file with
`loadTextContent`, so the deployed query and the tested query are one text). Tests evaluate each query over rows
shaped like Microsoft's documented table schemas, and check the Bicep module deploys exactly these.

Microsoft's Redis security guidance: "configure Azure Monitor alerts to notify you of unusual authentication
events". Two anomalies per cache type: failed authentications above a threshold, and connections from
addresses outside the allowed ranges (deployed only when ranges are configured, since without them every
client would alert).
"""

from __future__ import annotations

from dataclasses import dataclass

from .resource_ids import CacheKind

DETECTION_TAG = "warden-detection"


@dataclass(frozen=True)
class Detection:
    id: str
    kind: CacheKind
    table: str
    query_file: str  # relative to infra/
    title: str
    needs_allowed_ranges: bool = False


DETECTIONS: tuple[Detection, ...] = (
    Detection("acr-failed-entra-auth", CacheKind.REDIS, "ACREntraAuthenticationAuditLog",
              "queries/acr-failed-entra-auth.kql", "Failed Microsoft Entra authentications above the threshold"),
    Detection("acr-unexpected-client", CacheKind.REDIS, "ACRConnectedClientList",
              "queries/acr-unexpected-client.kql", "Clients connected from outside the allowed ranges",
              needs_allowed_ranges=True),
    Detection("amr-failed-auth", CacheKind.REDIS_ENTERPRISE, "REDConnectionEvents",
              "queries/amr-failed-auth.kql", "Failed authentications above the threshold"),
    Detection("amr-unexpected-client", CacheKind.REDIS_ENTERPRISE, "REDConnectionEvents",
              "queries/amr-unexpected-client.kql", "New connections from outside the allowed ranges",
              needs_allowed_ranges=True),
)


def detections_for(kind: CacheKind, *, with_allowed_ranges: bool) -> tuple[Detection, ...]:
    return tuple(d for d in DETECTIONS if d.kind is kind and (with_allowed_ranges or not d.needs_allowed_ranges))
