"""The package layout keeps its promises: no import cycle inside `remediators/`, and no module reaches into
another module's private names. Both are read from the source with `ast`, so an import inside a function or
under `if TYPE_CHECKING:` counts too: a cycle hidden in a function body or a type hint is still a cycle in the
design."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "remediators"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom, modules: Mapping[str, Path]) -> str:
    if node.level == 0:
        return node.module or ""
    is_package = modules[module].name == "__init__.py"
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, modules: Mapping[str, Path] = MODULES) -> Iterator[tuple[str, str | None, int]]:
    """(target module, imported name or None, line) for every import in `module`, at any depth."""
    tree = ast.parse(modules[module].read_text(), filename=str(modules[module]))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node, modules)
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if submodule in modules:
                    yield submodule, None, node.lineno
                else:
                    yield target, alias.name, node.lineno


def _graph() -> dict[str, set[str]]:
    return {
        module: {target for target, _, _ in _imports(module) if target in MODULES and target != module}
        for module in MODULES
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a two-module loop and a three-module loop are both reported."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert _cycles(graph) == [["a", "b"], ["c", "d", "e"]]


def _private_reaches(modules: Mapping[str, Path] = MODULES) -> list[str]:
    found = []
    for module in modules:
        tree = ast.parse(modules[module].read_text())
        module_aliases: set[str] = set()
        for target, name, line in _imports(module, modules):
            if name is not None and name.startswith("_") and not name.startswith("__"):
                found.append(f"{module}:{line} imports {target}.{name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                module_aliases.update(a.asname for a in node.names if a.asname and a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, node, modules)
                module_aliases.update(a.asname or a.name for a in node.names if f"{target}.{a.name}" in modules)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in module_aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append(f"{module}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_no_module_takes_another_modules_private_names() -> None:
    assert _private_reaches() == []


def test_the_private_name_check_finds_both_kinds_of_reach(tmp_path: Path) -> None:
    """The check above can fail: `from .a import _x` and `a._x` (a module imported by name) are both found,
    and a dunder (`__version__`) or a module's own private name is not."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('__version__ = "1"\n')
    (pkg / "a.py").write_text("_x = 1\n\ndef _own():\n    return _x\n")
    (pkg / "b.py").write_text("from . import __version__\nfrom .a import _x\n")
    (pkg / "c.py").write_text("from . import a\n\nprint(a._x)\n")
    modules = {"pkg": pkg / "__init__.py", "pkg.a": pkg / "a.py", "pkg.b": pkg / "b.py", "pkg.c": pkg / "c.py"}
    assert _private_reaches(modules) == ["pkg.b:2 imports pkg.a._x", "pkg.c:3 uses a._x"]


@pytest.mark.parametrize("kind", ["arm", "planning", "engine", "state", "entry", "rules/redis", "rules/enterprise"])
def test_every_layer_is_a_package(kind: str) -> None:
    assert (ROOT / PACKAGE / kind / "__init__.py").is_file()


# What each layer may not import (design: rules and the planner are pure, the ARM layer never decides policy,
# nothing below the entry points reaches up to them). `arm.bodies` is pure parsing of ARM bodies, shared with
# the offline `evaluate` command and the rules, so it is the one ARM module a rule may read.
FORBIDDEN = {
    "remediators.rules": ("remediators.arm", "remediators.planning", "remediators.engine", "remediators.state",
                          "remediators.entry", "remediators.audit"),
    "remediators.planning": ("remediators.arm", "remediators.rules", "remediators.engine", "remediators.state",
                             "remediators.entry", "remediators.audit"),
    "remediators.arm": ("remediators.rules", "remediators.planning", "remediators.baseline", "remediators.engine",
                        "remediators.state", "remediators.entry", "remediators.audit"),
    "remediators.engine": ("remediators.entry",),
    "remediators.state": ("remediators.engine", "remediators.entry", "remediators.arm"),
}
ALLOWED = {"remediators.arm.bodies"}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_each_layer_imports_only_what_it_may() -> None:
    found = []
    for module, targets in _graph().items():
        for layer, banned in FORBIDDEN.items():
            if not _within(module, layer):
                continue
            found.extend(f"{module} imports {t}" for t in sorted(targets)
                         if t not in ALLOWED and any(_within(t, b) for b in banned))
    assert found == []


# Suites that test across packages, or the parts of the project outside `remediators/`.
CROSS_CUTTING = {
    "core": "the top-level modules of remediators/ (resource_ids, settings, events, workitem, ...)",
    "conformance": "recorded Azure traffic replayed against the emulator and the SDK",
    "integration": "the whole app end to end",
    "reliability": "faults, crashes, chaos and hostile input across the app",
    "emulator": "the ARM emulator",
    "devhost": "the local Functions host",
    "infra": "infra/ (Bicep, role, queries)",
}


def _test_packages(tests: Path) -> dict[str, set[str]]:
    """Each package under tests/ and its sub-packages (one level down)."""
    return {d.name: {s.name for s in d.iterdir() if (s / "__init__.py").exists()}
            for d in tests.iterdir() if (d / "__init__.py").exists()}


def _unmirrored(tests: Path, packages: set[str], kinds: dict[str, set[str]]) -> list[str]:
    found = []
    for name, subs in sorted(_test_packages(tests).items()):
        if name not in packages and name not in CROSS_CUTTING:
            found.append(f"tests/{name}")
        found += [f"tests/{name}/{sub}" for sub in sorted(subs) if sub not in kinds.get(name, set())]
    return found


def _source_packages() -> tuple[set[str], dict[str, set[str]]]:
    root = ROOT / PACKAGE
    packages = {d.name for d in root.iterdir() if (d / "__init__.py").exists()}
    return packages, {p: {s.name for s in (root / p).iterdir() if (s / "__init__.py").exists()} for p in packages}


def test_the_tests_mirror_the_packages() -> None:
    """A newcomer finds a package's tests under the same name: tests/arm for remediators/arm, tests/rules/redis
    for remediators/rules/redis; only the cross-cutting suites above have no package of their own."""
    packages, kinds = _source_packages()
    assert _unmirrored(ROOT / "tests", packages, kinds) == []


def test_the_mirror_check_finds_a_folder_named_after_nothing(tmp_path: Path) -> None:
    for folder in ("arm", "guidance", "rules", "rules/redis", "rules/misc"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    assert _unmirrored(tmp_path, {"arm", "rules"}, {"rules": {"redis"}}) == ["tests/guidance", "tests/rules/misc"]


def test_every_rule_module_is_exercised_by_a_test() -> None:
    """Each rule keeps its test: some test module imports the rule's module or evaluates it by its id."""
    from remediators.rules import ALL_RULES, RULE_MODULES

    texts = [p.read_text() for p in (ROOT / "tests").rglob("test_*.py")]
    untested = []
    for module, rule in zip(RULE_MODULES, ALL_RULES, strict=True):
        rule_id = rule.metadata.id
        if not any(f"rules.{module}" in t or f'"{rule_id}"' in t or f"'{rule_id}'" in t for t in texts):
            untested.append(f"{module} ({rule_id})")
    assert untested == []


def _named_in_module_table(readme: str) -> set[str]:
    """The names in backticks in the README's module table (`arm/`, `settings`, ...)."""
    start = readme.index("| module (`remediators/`) |")
    rows = readme[start:].split("\n\n", 1)[0].splitlines()[2:]  # past the header and its rule
    return {name.rstrip("/") for row in rows for name in re.findall(r"`([a-z_]+/?)`", row.split("|")[1])}


def test_the_readme_module_table_names_every_package_and_module() -> None:
    """A newcomer's map: every package and top-level module of remediators/ has its row in the README."""
    root = ROOT / PACKAGE
    present = {d.name for d in root.iterdir() if (d / "__init__.py").exists()}
    present |= {p.stem for p in root.glob("*.py") if p.stem not in ("__init__", "__main__")}
    named = _named_in_module_table((ROOT / "README.md").read_text())
    assert sorted(present - named) == [] and sorted(named - present) == []
