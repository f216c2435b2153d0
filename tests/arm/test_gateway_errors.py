"""The pure part of the error mapping: which ARM answers are busy, throttled, blocked, gone, transient."""

from __future__ import annotations

import pytest

from remediators.arm.errors import ArmError, is_busy, kind_for, parse_retry_after

BUSY_MESSAGE = (
    "The resource '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Cache/Redis/c' is busy processing a "
    "previous update request or is undergoing system maintenance.  As such, it is currently unable to accept the "
    "update request.  Please try again later."
)


@pytest.mark.parametrize(
    ("status", "code", "message", "kind"),
    [
        (409, "Conflict", BUSY_MESSAGE, "busy"),
        (409, "AnotherOperationInProgress", "Another operation is in progress", "busy"),
        (409, "ScopeLocked", "The scope '/subscriptions/x' cannot perform write operation because ...", "blocked"),
        (409, "Conflict", "Data sink '/ws' is already used in diagnostic setting 'a' for category 'b'.", "blocked"),
        (400, "Conflict", "Data sink '/ws' is already used in diagnostic setting 'a' for category 'b'.", "blocked"),
        (400, "RequestDisallowedByPolicy", "Resource 'c' was disallowed by policy.", "blocked"),
        (403, "RequestDisallowedByPolicy", "Resource 'c' was disallowed by policy.", "blocked"),
        (403, "LinkedAuthorizationFailed", "The client has permission to perform action ...", "blocked"),
        (403, "AuthorizationFailed", "The client does not have authorization", "blocked"),
        (401, "InvalidAuthenticationToken", "The access token is invalid.", "blocked"),
        (400, "BadRequest", "The value 'Off' of 'properties.publicNetworkAccess' is invalid.", "invalid"),
        (404, "ResourceNotFound", "The Resource 'Microsoft.Cache/Redis/c' under resource group 'rg' ...", "gone"),
        (429, "TooManyRequests", "slow down", "throttled"),
        (408, None, None, "transient"),
        (500, "InternalServerError", "oops", "transient"),
        (503, None, None, "transient"),
        (None, None, None, "transient"),
    ],
)
def test_kind_for(status: int | None, code: str | None, message: str | None, kind: str) -> None:
    assert kind_for(status, code, message) == kind


def test_a_conflict_that_does_not_say_busy_is_not_busy() -> None:
    assert not is_busy("Conflict", "Operation on this resource is not allowed")
    assert is_busy("Conflict", BUSY_MESSAGE)


@pytest.mark.parametrize(("header", "seconds"), [("30", 30.0), ("0", 0.0), (None, None), ("", None),
                                                 ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("soon", None)])
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_arm_error_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="kind"):
        ArmError("angry", "no")
    err = ArmError("busy", "wait", code="Conflict", status=409, request_id="r", retry_after=5.0)
    assert (err.kind, err.code, err.status, err.request_id, err.retry_after) == ("busy", "Conflict", 409, "r", 5.0)
