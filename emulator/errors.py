"""ARM error responses: the refusal raised by handlers and turned into ARM's JSON body by the server.

Each helper carries ARM's own code and wording (sources in emulator/README.md, table "ARM rejects X"), so a
client's error handling is exercised against what Azure really sends rather than against our guesses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ArmHttpError(Exception):
    status: int
    code: str
    message: str
    target: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Microsoft.Insights answers `{"code", "message"}` without ARM's `error` envelope.
    wrapped: bool = True

    def __post_init__(self) -> None:
        super().__init__(f"{self.status} {self.code}: {self.message}")

    def body(self) -> dict[str, Any]:
        inner: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            inner["target"] = self.target
        return {"error": inner} if self.wrapped else inner


def not_found(type_path: str, resource_group: str) -> ArmHttpError:
    """`type_path` as ARM words it: 'Microsoft.Cache/Redis/cache1' or '.../firewallRules/rule1'."""
    return ArmHttpError(
        404,
        "ResourceNotFound",
        f"The Resource '{type_path}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def resource_group_not_found(resource_group: str) -> ArmHttpError:
    return ArmHttpError(404, "ResourceGroupNotFound", f"Resource group '{resource_group}' could not be found.")


def subscription_not_found(subscription_id: str) -> ArmHttpError:
    return ArmHttpError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")


def missing_api_version() -> ArmHttpError:
    return ArmHttpError(
        400,
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
    )


def unsupported_api_version(
    api_version: str, type_name: str, supported: tuple[str, ...], location: str
) -> ArmHttpError:
    return ArmHttpError(
        400,
        "NoRegisteredProviderFound",
        f"No registered resource provider found for location '{location}' and API version '{api_version}' for "
        f"type '{type_name}'. The supported api-versions are '{', '.join(supported)}'. The supported locations "
        f"are '{location}'.",
    )


def busy(resource_id: str, retry_after: int | None = None) -> ArmHttpError:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return ArmHttpError(
        409,
        "Conflict",
        f"The resource '{resource_id}' is busy processing a previous update request or is undergoing system "
        "maintenance.  As such, it is currently unable to accept the update request.  Please try again later.",
        headers=headers,
    )


def bad_request(message: str, target: str | None = None, code: str = "BadRequest") -> ArmHttpError:
    return ArmHttpError(400, code, message, target=target)


def invalid_content(message: str, target: str | None = None) -> ArmHttpError:
    return ArmHttpError(
        400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: {message}",
        target=target,
    )


def data_sink_conflict(sink: str, setting: str, category: str) -> ArmHttpError:
    return ArmHttpError(
        409,
        "Conflict",
        f"Data sink '{sink}' is already used in diagnostic setting '{setting}' for category '{category}'. "
        "Data sinks can't be reused in different settings on the same category for the same resource.",
        wrapped=False,
    )
