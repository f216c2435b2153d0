"""Microsoft.Network: the private DNS zone groups of a cache's private endpoints.

Its one read goes through the session's plain ARM pipeline, with the same policies as the SDK clients: a list
of small bodies needs no SDK models."""

from __future__ import annotations

import logging
from dataclasses import replace

from ..models import PrivateEndpointConnection
from ..resource_ids import InvalidResourceId, parse_private_endpoint_id
from .errors import ArmError
from .pipeline import ArmSession

log = logging.getLogger(__name__)

NETWORK_API_VERSION = "2023-09-01"

ACTIONS = frozenset({"Microsoft.Network/privateEndpoints/privateDnsZoneGroups/read"})


class Network:
    def __init__(self, session: ArmSession) -> None:
        self.session = session

    def with_dns_zone_groups(
        self, connections: tuple[PrivateEndpointConnection, ...]
    ) -> tuple[PrivateEndpointConnection, ...]:
        """Fill `private_dns_zone_groups` for Approved connections (the only ones public-network-access can
        rely on), one list call per private endpoint. A private endpoint that no longer exists has none; one
        we may not read (403, another team's subscription) stays None = not read, never "present"."""
        found: dict[str, tuple[str, ...] | None] = {}
        out = []
        for conn in connections:
            raw = conn.private_endpoint_id
            if not raw or str(conn.status).lower() != "approved":
                out.append(conn)
                continue
            try:
                # Parsed strictly before it becomes a URL: an id like `.attacker.example/...` or `@host/...`
                # would otherwise move the request (and the token) to another host.
                pe = parse_private_endpoint_id(raw)
            except InvalidResourceId as exc:
                log.warning("private endpoint id of a connection refused: %s", exc)
                out.append(replace(conn, private_dns_zone_groups=None))
                continue
            key = pe.lower()
            if key not in found:
                try:
                    groups = self.session.list(pe + "/privateDnsZoneGroups", NETWORK_API_VERSION)
                    found[key] = tuple(str(g.get("name") or str(g.get("id", "")).rsplit("/", 1)[-1]) for g in groups)
                except ArmError as exc:
                    if exc.kind == "gone":
                        found[key] = ()
                    elif exc.kind in ("blocked", "invalid"):
                        log.warning("private DNS zone groups of %s not readable: %s", pe, exc)
                        found[key] = None
                    else:
                        raise
            out.append(replace(conn, private_dns_zone_groups=found[key]))
        return tuple(out)

    def with_dns_when_needed(
        self, connections: tuple[PrivateEndpointConnection, ...], public_network_access: object,
        needs: frozenset[str],
    ) -> tuple[PrivateEndpointConnection, ...]:
        """DNS zone groups are read only when asked for and only while public access is not already Disabled
        (nothing else uses them)."""
        if "private_dns_zone_groups" in needs and str(public_network_access).lower() != "disabled":
            return self.with_dns_zone_groups(connections)
        return connections
