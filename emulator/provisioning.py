"""Seed-time and poll-time machinery that the redis store and the redisEnterprise store share.

Both resource providers read the same `x-emulator` knobs (`busyForGets`, `provisioningSequence`, `faults`,
`offeredDiagnosticCategories`) and count a long-running operation down in polls the same way; keeping that
here means a knob or an LRO rule cannot drift between the two APIs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar


class Countdown(Protocol):
    """What a running operation exposes to `is_due`."""

    polls_remaining: int
    not_before: float


class Running(Protocol):
    done: bool


_Op = TypeVar("_Op", bound=Running)


class Sequenced(Protocol[_Op]):
    """A resource whose GETs walk through a scripted list of provisioning states, or follow its operation."""

    body: dict[str, Any]
    sequence: list[str] | None
    sequence_index: int
    operation: _Op | None


def provisioning_state(body: Mapping[str, Any]) -> str:
    return str(body.get("properties", {}).get("provisioningState", "Succeeded"))


def set_provisioning_state(body: dict[str, Any], value: str) -> None:
    body.setdefault("properties", {})["provisioningState"] = value


def offered_category(item: str | Mapping[str, Any]) -> dict[str, Any]:
    """A diagnostic category from the fleet: a bare name is a log category in `allLogs`."""
    if isinstance(item, str):
        return {"name": item, "categoryType": "Logs", "categoryGroups": ["allLogs"]}
    return {"categoryType": "Logs", "categoryGroups": [], **item}


def provisioning_sequence(knobs: Mapping[str, Any]) -> list[str] | None:
    """The states GETs show from seeding (`busyForGets` N: Updating N times, then Succeeded), or None."""
    if "busyForGets" in knobs:
        return ["Updating"] * int(knobs["busyForGets"]) + ["Succeeded"]
    if "provisioningSequence" in knobs:
        return list(knobs["provisioningSequence"])
    return None


def seeded_faults(knobs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `faults` knob with its defaults filled in: any method, any resource, once."""
    return [{"method": "*", "resource": "*", "times": 1, **f} for f in knobs.get("faults", ())]


def take_fault(faults: list[dict[str, Any]], method: str, resource: str,
               accept: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    """The first unspent fault `accept`ed for this method and resource, with one use taken off it.

    `accept` splits the entries between their consumers (status faults in the handlers, presets in
    emulator.faults before dispatch), so each entry fires in exactly one place."""
    for fault in faults:
        if fault["times"] <= 0 or not accept(fault):
            continue
        if fault["method"] not in ("*", method) or fault["resource"] not in ("*", resource):
            continue
        fault["times"] -= 1
        return fault
    return None


def is_due(op: Countdown, now: float) -> bool:
    """An operation finishes once its polls are used up and its minimum duration has passed."""
    return op.polls_remaining <= 0 and now >= op.not_before


def observe(state: Sequenced[_Op], poll: Callable[[_Op], None]) -> dict[str, Any]:
    """A GET of the resource: what it shows now, then one poll of its running operation or, with none
    running, one step through its scripted states (the last one sticks)."""
    op = state.operation
    if op is not None and not op.done:
        poll(op)
    body = copy.deepcopy(state.body)
    if state.sequence and (op is None or op.done):
        state.sequence_index = min(state.sequence_index + 1, len(state.sequence) - 1)
        set_provisioning_state(state.body, state.sequence[state.sequence_index])
    return body
