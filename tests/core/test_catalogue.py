"""docs/baseline.md is generated: it must match the code, cover every rule, and account for every Azure
Policy built-in in the reference copy (implemented by a rule, or listed as out of scope with a reason)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.spec import REFERENCE_ROOT
from remediators import catalogue
from remediators.rules import ALL_RULES

REFERENCE = REFERENCE_ROOT / "azure-policy"
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"no Azure Policy reference copy at {REFERENCE}")


def test_committed_catalogue_is_current():
    assert catalogue.DOC_PATH.read_text(encoding="utf-8") == catalogue.render(), (
        "docs/baseline.md is stale: run `python -m remediators.catalogue`"
    )


def test_every_registered_rule_has_a_row_and_a_section():
    text = catalogue.render()
    for rule in ALL_RULES:
        md = rule.metadata
        assert f"| `{md.id}` | {md.title} |" in text
        assert f"### `{md.id}`: {md.title}" in text
        assert md.what_could_break in text


def test_check_mode_detects_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "baseline.md"
    out.write_text("# old\n")
    assert catalogue.main(["--check", "--output", str(out)]) == 1
    assert "stale" in capsys.readouterr().err
    assert catalogue.main(["--output", str(out)]) == 0
    assert catalogue.main(["--check", "--output", str(out)]) == 0
    assert out.read_text() == catalogue.render()


def test_cited_and_out_of_scope_policies_do_not_overlap():
    cited = {pid for rule in ALL_RULES for pid in rule.metadata.azure_policy}
    assert not cited & set(catalogue.OUT_OF_SCOPE)
    assert cited | set(catalogue.OUT_OF_SCOPE) <= set(catalogue.POLICY_NAMES)


@needs_reference
def test_every_reference_definition_is_accounted_for():
    cited = {pid for rule in ALL_RULES for pid in rule.metadata.azure_policy}
    for path in sorted(REFERENCE.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        pid = raw["name"]
        assert pid in cited or pid in catalogue.OUT_OF_SCOPE, f"{path.name} ({pid}) is neither mapped nor excluded"
        assert catalogue.POLICY_NAMES[pid] == raw["properties"]["displayName"], path.name
