"""JWT-shaped access tokens, HMAC-signed by the emulator, and their verification as ARM would do it.

Real Entra ID tokens are RS256-signed; the emulator signs with HS256 and a per-server random key so that a
token from another run, an edited payload or an unsigned token is refused exactly where ARM would refuse
a token it did not issue. The warden itself never verifies tokens: it only decodes its own payload to
learn its oid/appid (see `decode_unverified`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .principals import Principal

# The audiences ARM accepts for its own tokens (with and without the trailing slash).
ARM_AUDIENCES = (
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
)


class TokenError(Exception):
    """A token ARM would refuse; `code` and `message` are what ARM puts in its 401 body."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def audience_for(resource: str) -> str:
    """The `aud` Entra puts in a token requested for `resource` (ARM's own resource keeps its trailing slash)."""
    return resource if resource.endswith("/") else resource + "/"


def mint(
    principal: Principal,
    key: bytes,
    *,
    audience: str = "https://management.azure.com/",
    lifetime: float = 3600.0,
    now: float | None = None,
) -> tuple[str, int]:
    """A signed token for `principal` and its expiry (epoch seconds). A negative lifetime mints an
    already-expired token, which is how tests prove ARM's expiry check."""
    issued = int(now if now is not None else time.time())
    expires = int(issued + lifetime)
    claims = principal.token_claims()
    claims.update({"aud": audience, "iat": issued, "nbf": issued, "exp": expires, "uti": uuid.uuid4().hex})
    header = {"typ": "JWT", "alg": "HS256", "kid": "redis-warden-emulator"}
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}", expires


def decode_unverified(token: str) -> dict[str, Any]:
    """The payload of a JWT without checking its signature; raises ValueError when it is not JWT-shaped."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("a JWT has three dot-separated parts")
    try:
        payload = json.loads(_b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"the JWT payload is not base64url JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ValueError("the JWT payload is not a JSON object")
    return payload


def _arm_time(epoch: float) -> str:
    """ARM's .NET-style UTC time in its expiry message, e.g. '8/21/2018 3:22:00 PM'."""
    dt = datetime.fromtimestamp(epoch, UTC)
    hour = dt.hour % 12 or 12
    return f"{dt.month}/{dt.day}/{dt.year} {hour}:{dt.minute:02d}:{dt.second:02d} {'AM' if dt.hour < 12 else 'PM'}"


def verify(
    authorization: str | None, key: bytes, *, now: float | None = None, audiences: tuple[str, ...] = ARM_AUDIENCES
) -> Mapping[str, Any]:
    """The claims of a valid bearer token, or TokenError with ARM's code and wording."""
    if not authorization:
        raise TokenError("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        )
    token = token.strip()
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("InvalidAuthenticationToken", "The access token is invalid.")
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    try:
        signature = _b64url_decode(parts[2])
    except ValueError as exc:
        raise TokenError("InvalidAuthenticationToken", "The access token is invalid.") from exc
    if not hmac.compare_digest(signature, expected):
        raise TokenError("InvalidAuthenticationToken", "The access token is invalid.")
    try:
        claims = decode_unverified(token)
    except ValueError as exc:
        raise TokenError("InvalidAuthenticationToken", "The access token is invalid.") from exc
    current = now if now is not None else time.time()
    exp = claims.get("exp")
    if not isinstance(exp, int | float):
        raise TokenError("InvalidAuthenticationToken", "The access token is invalid.")
    if exp <= current:
        raise TokenError(
            "ExpiredAuthenticationToken",
            f"The access token expiry UTC time '{_arm_time(exp)}' is earlier than current UTC time "
            f"'{_arm_time(current)}'.",
        )
    if claims.get("aud") not in audiences:
        allowed = ",".join(f"'{a}'" for a in audiences)
        raise TokenError(
            "InvalidAuthenticationToken",
            f"The access token has been obtained for wrong audience or resource '{claims.get('aud')}'. "
            f"It should exactly match with one of the allowed audiences {allowed}.",
        )
    return claims
