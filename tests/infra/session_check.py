"""Permissions from evidence, as a pytest session check (wired in tests/conftest.py).

Every emulator of the run, in this process or a child, appends its request log to one directory
(`emulator.requestlog.TAP_ENV`). At the end of the session the warden's own requests are mapped to RBAC
actions (`evidence.py`) and compared with the custom roles in infra/main.bicep:
- always: every action the warden needed is in a role (a missing permission fails the run);
- when the whole suite ran and passed (no selection, no early stop, no failures): the roles hold nothing
  that was never needed either, so the roles equal the evidence.
`WARDEN_PERMISSIONS_CHECK=off|subset|exact` overrides the automatic choice.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

from emulator.requestlog import TAP_ENV

from . import evidence, roles

MODE_ENV = "WARDEN_PERMISSIONS_CHECK"
_OWNED_TAP = "_warden_owned_tap"


def configure(config: pytest.Config) -> None:
    if os.environ.get(TAP_ENV):
        return
    directory = tempfile.mkdtemp(prefix="warden-request-tap-")
    os.environ[TAP_ENV] = directory
    setattr(config, _OWNED_TAP, directory)


def _whole_suite_ran(session: pytest.Session) -> bool:
    config = session.config
    testpaths = [Path(config.rootpath, p).resolve() for p in config.getini("testpaths")] or [config.rootpath]
    args = [Path(config.invocation_params.dir, a.split("::", 1)[0]).resolve() for a in config.args]
    selected = bool(config.option.keyword or config.option.markexpr or config.getoption("deselect", None)
                    or config.getoption("lf", False))
    return (
        sorted(args) == sorted(testpaths)
        and not selected
        and not session.shouldstop
        and not session.shouldfail
        and session.testsfailed == 0
        and session.testscollected > 0
    )


def mode(session: pytest.Session) -> str:
    forced = os.environ.get(MODE_ENV, "").strip().lower()
    if forced in ("off", "subset", "exact"):
        return forced
    return "exact" if _whole_suite_ran(session) else "subset"


def problems(directory: Path, check: str) -> list[str]:
    observed: dict[str, list[evidence.Observation]] = defaultdict(list)
    unmapped: list[str] = []
    for entry in evidence.read_tap(directory):
        try:
            for obs in evidence.observe([entry]):
                observed[obs.action.lower()].append(obs)
        except evidence.UnmappedRequest as exc:
            unmapped.append(f"{exc} (test {entry.get('test')})")
    declared = evidence.canonical(roles.arm_actions())
    out = [f"unmapped warden request: {u}" for u in unmapped]
    for action in sorted(set(observed) - set(declared)):
        first = observed[action][0]
        out.append(f"the warden needed {first.action} (e.g. {first.method} {first.path} in {first.test}) "
                   "but no custom role in infra/main.bicep grants it")
    if check == "exact":
        out += [f"infra/main.bicep grants {declared[a]} but the warden never needed it in the whole test run"
                for a in sorted(set(declared) - set(observed))]
    return out


def finish(session: pytest.Session) -> None:
    directory = os.environ.get(TAP_ENV)
    owned = getattr(session.config, _OWNED_TAP, None)
    try:
        check = mode(session)
        if check == "off" or not directory:
            return
        found = problems(Path(directory), check)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if found:
            if reporter is not None:
                reporter.section("permissions from evidence", sep="=", red=True, bold=True)
                for line in found:
                    reporter.line(line, red=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        elif reporter is not None and check == "exact":
            reporter.line("permissions from evidence: the custom roles equal the ARM actions the warden used")
    finally:
        if owned:
            shutil.rmtree(owned, ignore_errors=True)
            os.environ.pop(TAP_ENV, None)
