"""Permissions from evidence: which RBAC actions the warden's own ARM requests needed, from the emulator's
request log of a whole test run.

Pure functions (mapping a request to actions, choosing which requests are the warden's) plus the small
amount of file reading the session check in tests/conftest.py needs. ARM authorises a request as
`<namespace>/<type>[/<child type>...]/<read|write|delete>` for GET / PUT+PATCH / DELETE and
`.../<name>/action` for POST, using the resource type after the LAST `/providers/` of the path (so an
extension resource such as a diagnostic setting on a cache is `Microsoft.Insights/diagnosticSettings/...`).
Linked checks ARM makes on resources a body points at are added where the design records them (section 6:
a diagnostic setting's destination workspace needs `sharedKeys/action`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.principals import WARDEN

_VERBS = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}
SDK_USER_AGENT_PREFIX = "azsdk-python-"
WORKSPACE_LINKED_ACTION = "Microsoft.OperationalInsights/workspaces/sharedKeys/action"


class UnmappedRequest(ValueError):
    """A request whose RBAC action cannot be derived from its path."""


@dataclass(frozen=True)
class Observation:
    action: str
    method: str
    path: str
    test: str | None


def rbac_actions(method: str, path: str, body: Any = None) -> frozenset[str]:
    """The RBAC actions ARM checks for one request (the operation itself plus documented linked checks)."""
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    lowered = [s.lower() for s in segments]
    positions = [i for i, s in enumerate(lowered) if s == "providers" and i + 1 < len(segments)]
    if not positions:
        raise UnmappedRequest(f"{method} {path}: no /providers/ segment to take a resource type from")
    start = positions[-1]
    namespace = segments[start + 1]
    rest = segments[start + 2:]
    if not rest:
        raise UnmappedRequest(f"{method} {path}: no resource type after the namespace")
    types = rest[0::2]
    verb = method.upper()
    if verb == "POST":
        action = "/".join([namespace, *types]) + "/action"
    elif verb in _VERBS:
        action = "/".join([namespace, *types]) + "/" + _VERBS[verb]
    else:
        raise UnmappedRequest(f"{method} {path}: no RBAC verb for this method")
    actions = {action}
    if (
        verb in ("PUT", "PATCH")
        and action.lower() == "microsoft.insights/diagnosticsettings/write"
        and isinstance(body, Mapping)
        and (body.get("properties") or {}).get("workspaceId")
    ):
        actions.add(WORKSPACE_LINKED_ACTION)
    return frozenset(actions)


def is_warden_request(entry: Mapping[str, Any]) -> bool:
    """A request the warden's own code made: its identity, through the Azure SDK (tests that play ARM with
    plain HTTPS or with another principal are not evidence), and authenticated (a 401 authorises nothing)."""
    caller = entry.get("caller") or {}
    return (
        str(caller.get("appid") or "").lower() == WARDEN.client_id.lower()
        and str(entry.get("user_agent") or "").startswith(SDK_USER_AGENT_PREFIX)
        and entry.get("status") != 401
        and str(entry.get("path", "")).startswith("/subscriptions/")
    )


def observe(entries: Iterable[Mapping[str, Any]]) -> list[Observation]:
    out: list[Observation] = []
    for entry in entries:
        if not is_warden_request(entry):
            continue
        for action in rbac_actions(str(entry["method"]), str(entry["path"]), entry.get("body")):
            out.append(Observation(action, str(entry["method"]), str(entry["path"]), entry.get("test")))
    return out


def read_tap(directory: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for file in sorted(directory.glob("requests-*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entries.append(json.loads(line))
    return entries


def canonical(actions: Iterable[str]) -> dict[str, str]:
    """RBAC action names are case-insensitive: lower-case key -> one spelling."""
    return {a.lower(): a for a in actions}
