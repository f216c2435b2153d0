"""Every package the deployed app imports is named in requirements.txt.

Azure installs requirements.txt only, and a fresh CI machine installs exactly what the files name: a package
that happens to be in a developer's .venv but not in the file passed every local run and failed CI at
collection (`No module named 'azure.mgmt.network'`, `'jinja2'`). This reads the app's imports from the
source (ast, not by importing) and maps each to the distribution that provides it.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_SOURCES = [ROOT / "function_app.py", *sorted((ROOT / "remediators").rglob("*.py"))]
OWN = {"remediators", "function_app"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def _distribution_of(module: str, providers: dict[str, list[str]]) -> str | None:
    """The installed distribution that provides `module` (namespace packages such as `azure` by longest prefix)."""
    parts = module.split(".")
    for length in range(len(parts), 0, -1):
        candidate = ".".join(parts[:length])
        try:
            dist = importlib.metadata.distribution(candidate.replace(".", "-"))
        except importlib.metadata.PackageNotFoundError:
            continue
        return dist.metadata["Name"]
    top = parts[0]
    names = providers.get(top, [])
    return names[0] if len(names) == 1 else None


def _declared(requirements: Path) -> set[str]:
    names: set[str] = set()
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(_normal(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]))
    return names


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_third_party_import_of_the_app_is_in_requirements_txt() -> None:
    providers = importlib.metadata.packages_distributions()
    declared = _declared(ROOT / "requirements.txt")
    missing: dict[str, str] = {}
    for path in APP_SOURCES:
        for module in _imported_modules(path):
            top = module.split(".")[0]
            if top in OWN or top in sys.stdlib_module_names:
                continue
            dist = _distribution_of(module, providers)
            assert dist is not None, f"{path.relative_to(ROOT)} imports {module}, which no installed package provides"
            if _normal(dist) not in declared and not _provided_by_declared(dist, declared):
                missing[module] = dist
    assert not missing, f"imported by the app but not in requirements.txt: {missing}"


def _provided_by_declared(dist: str, declared: set[str]) -> bool:
    """A transitive dependency of a declared package (azure-core via the SDKs, say) is installed with it."""
    for name in declared:
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        if any(_normal(re.split(r"[<>=!~\[; (]", req, maxsplit=1)[0]) == _normal(dist) for req in requires):
            return True
    return False
