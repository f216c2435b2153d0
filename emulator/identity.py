"""An App Service style managed-identity endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, api-version
2019-08-01) that the real `ManagedIdentityCredential` / `DefaultAzureCredential` talk to.

Without `client_id` it answers for the warden's identity (the app's default); with `client_id` (or
`object_id` / `mi_res_id`) it answers for that principal, which is how the demo acts as Jane through the real
SDK. Error bodies use App Service's `{"statusCode", "message"}` shape.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .principals import Principal
from .tokens import audience_for, mint

API_VERSION = "2019-08-01"
NO_IDENTITY = "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId."


@dataclass
class IdentityEndpoint:
    principals: Sequence[Principal]
    key: bytes
    header_secret: str
    token_lifetime: float = 3600.0

    def _select(self, query: Mapping[str, str]) -> Principal | None:
        if "client_id" in query:
            return next((p for p in self.principals if p.client_id.lower() == query["client_id"].lower()), None)
        if "object_id" in query or "principal_id" in query:
            wanted = (query.get("object_id") or query.get("principal_id") or "").lower()
            return next((p for p in self.principals if p.object_id.lower() == wanted), None)
        if "mi_res_id" in query:
            wanted = query["mi_res_id"].lower()
            return next(
                (p for p in self.principals if (p.managed_identity_id or "").lower() == wanted), None
            )
        return self.principals[0] if self.principals else None

    def handle(self, query: Mapping[str, str], header: str | None) -> tuple[int, dict[str, Any]]:
        if header is None or not hmac.compare_digest(header, self.header_secret):
            return 401, {"statusCode": 401, "message": "The X-IDENTITY-HEADER header is missing or invalid."}
        if query.get("api-version") != API_VERSION:
            return 400, {"statusCode": 400, "message": f"api-version must be {API_VERSION}."}
        resource = query.get("resource")
        if not resource:
            return 400, {"statusCode": 400, "message": "The resource query parameter is required."}
        principal = self._select(query)
        if principal is None:
            return 400, {"statusCode": 400, "message": NO_IDENTITY}
        token, expires = mint(principal, self.key, audience=audience_for(resource), lifetime=self.token_lifetime,
                              now=time.time())
        return 200, {
            "access_token": token,
            "expires_on": str(expires),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": principal.client_id,
        }
