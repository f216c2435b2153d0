"""The identities the emulator can issue tokens for, and the claims ARM would see for each.

Tests, the demo and the warden's own settings import these constants so that "who made this write" is the
same fact everywhere: the warden's user-assigned identity (whose own writes must be recognised and
dropped) and a person, Jane Doe, whose changes must be remediated. All identifiers are made up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUBSCRIPTION_ID = "6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"
ISSUER = f"https://sts.windows.net/{TENANT_ID}/"

# Claim URIs ARM uses when it copies token claims into Event Grid `data.claims`.
OID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
UPN_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"


@dataclass(frozen=True)
class Principal:
    """One caller. `client_id` is what a managed-identity token request names; for a person it is the
    client application they sign in through (the Azure CLI app id below), which is also their `appid`."""

    client_id: str
    object_id: str
    display_name: str
    kind: str  # "managed_identity" | "user"
    upn: str | None = None
    managed_identity_id: str | None = None  # xms_mirid
    role: str = "Redis Cache Contributor"
    extra_claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def app_id(self) -> str:
        return self.client_id

    @property
    def principal_type(self) -> str:
        """As Event Grid's `authorization.evidence.principalType` spells it."""
        return "ServicePrincipal" if self.kind == "managed_identity" else "User"

    def token_claims(self) -> dict[str, Any]:
        """Identity claims of an Entra ID v1 access token for this principal (time and audience added later)."""
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "tid": TENANT_ID,
            "oid": self.object_id,
            "appid": self.client_id,
            "ver": "1.0",
        }
        if self.kind == "managed_identity":
            claims.update({"appidacr": "2", "idtyp": "app", "sub": self.object_id})
            if self.managed_identity_id:
                claims["xms_mirid"] = self.managed_identity_id
        else:
            claims.update({"appidacr": "0", "idtyp": "user", "sub": self.object_id, "name": self.display_name})
            if self.upn:
                claims["upn"] = self.upn
        claims.update(self.extra_claims)
        return claims


WARDEN_CLIENT_ID = "3d2b9c1e-6a0f-4b7e-8c55-9a1e2f3d4c5b"
WARDEN_OBJECT_ID = "9e8d7c6b-0000-4000-8000-0000000000aa"
WARDEN_MI_RESOURCE_ID = (
    f"/subscriptions/{SUBSCRIPTION_ID}/resourcegroups/rg-warden/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/id-redis-warden"
)
WARDEN = Principal(
    client_id=WARDEN_CLIENT_ID,
    object_id=WARDEN_OBJECT_ID,
    display_name="id-redis-warden",
    kind="managed_identity",
    managed_identity_id=WARDEN_MI_RESOURCE_ID,
)

# Jane signs in through the Azure CLI, whose well-known public client id is her token's `appid`.
JANE_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
JANE_OBJECT_ID = "a1b2c3d4-0000-4000-8000-000000000001"
JANE = Principal(
    client_id=JANE_CLIENT_ID,
    object_id=JANE_OBJECT_ID,
    display_name="Jane Doe",
    kind="user",
    upn="jane.doe@contoso.co.uk",
)

DEFAULT_PRINCIPALS: tuple[Principal, ...] = (WARDEN, JANE)
