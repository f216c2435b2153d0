"""Resolve a binding's `connection` setting name to a Storage connection string, as the host does.

The host looks the name up in app settings (environment variables; `local.settings.json` under Core
Tools). `UseDevelopmentStorage=true` is expanded to Azurite's well-known endpoints because the Python
Storage SDK, unlike the .NET one the host uses, does not understand that shorthand. Identity-based
connections (`<name>__queueServiceUri` + a credential) cannot reach Azurite, so they are refused with a
message naming the setting instead of failing later with an authentication error.
"""

from __future__ import annotations

from collections.abc import Mapping

from devhost.azurite import ACCOUNT, ACCOUNT_KEY

_DEV_STORAGE = (
    f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
    f"BlobEndpoint=http://127.0.0.1:10000/{ACCOUNT};"
    f"QueueEndpoint=http://127.0.0.1:10001/{ACCOUNT};"
    f"TableEndpoint=http://127.0.0.1:10002/{ACCOUNT};"
)


class MissingConnection(LookupError):
    """The setting a binding names is not configured."""


def resolve_connection(settings: Mapping[str, str], name: str) -> str:
    value = settings.get(name, "").strip()
    if value:
        if value.replace(" ", "").lower().rstrip(";") == "usedevelopmentstorage=true":
            return _DEV_STORAGE
        return value
    if any(key.lower().startswith(f"{name.lower()}__") for key in settings):
        raise MissingConnection(
            f"{name}: identity-based connection settings ({name}__*) are not supported by the dev host; "
            f"set {name} to a connection string (Azurite's)"
        )
    raise MissingConnection(f"{name}: app setting is not set (expected a Storage connection string)")
