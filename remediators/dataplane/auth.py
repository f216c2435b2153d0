"""Entra ID authentication to Redis: `redis-entraid`'s credential provider on the app's own credential.

Azure Cache for Redis and Azure Managed Redis accept `AUTH <object id> <access token>` where the token is
issued for `https://redis.azure.com/.default` and the object id is the token's `oid` claim (the username of
the identity's data access policy assignment). `redis-entraid` reads `oid` from the token and re-sends AUTH
on open connections before the token expires. We hand it the same `TokenCredential` the ARM clients use
(ManagedIdentityCredential in Azure), so there is one identity, no secret, and tests can substitute a
credential that mints tokens for a local server's ACL user.
"""

from __future__ import annotations

from azure.core.credentials import TokenCredential
from redis.auth.err import RequestTokenErr
from redis.auth.idp import IdentityProviderInterface
from redis.auth.token import JWToken, TokenInterface
from redis.auth.token_manager import RetryPolicy, TokenManagerConfig
from redis_entraid.cred_provider import EntraIdCredentialsProvider

REDIS_SCOPE = "https://redis.azure.com/.default"
# Refresh at 70 % of a token's life; give the identity endpoint 2 s per attempt, three attempts.
TOKEN_MANAGER = TokenManagerConfig(0.7, 0, 2000, RetryPolicy(3, 100))


class CredentialIdentityProvider(IdentityProviderInterface):
    """An `azure-core` TokenCredential as `redis-py`'s identity provider."""

    def __init__(self, credential: TokenCredential, scope: str = REDIS_SCOPE) -> None:
        self._credential = credential
        self._scope = scope

    def request_token(self, force_refresh: bool = False) -> TokenInterface:
        try:
            access = self._credential.get_token(self._scope)
        except Exception as exc:  # any credential failure becomes the library's own error, cause kept
            raise RequestTokenErr(exc) from exc
        return JWToken(access.token)


def entra_credential_provider(credential: TokenCredential) -> EntraIdCredentialsProvider:
    return EntraIdCredentialsProvider(CredentialIdentityProvider(credential), TOKEN_MANAGER)
