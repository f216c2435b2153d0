"""Every rule names the framework controls it gives evidence for, and the catalogue and the pack show them."""

from __future__ import annotations

import pytest

from remediators.catalogue import render
from remediators.reporting.assessment import rule_infos
from remediators.rules import ALL_RULES
from remediators.rules.frameworks import FRAMEWORKS, FrameworkRef, cyber_essentials


def test_every_rule_cites_at_least_one_known_framework_control() -> None:
    for rule in ALL_RULES:
        refs = rule.metadata.frameworks
        assert refs, f"{rule.metadata.id} cites no framework"
        assert all(isinstance(r, FrameworkRef) and r.framework in FRAMEWORKS for r in refs)
        assert any(r.framework in ("ISO/IEC 27001:2022", "UK GDPR") for r in refs), rule.metadata.id


def test_the_six_frameworks_are_all_used() -> None:
    used = {r.framework for rule in ALL_RULES for r in rule.metadata.frameworks}
    assert used == set(FRAMEWORKS)


def test_an_unknown_framework_or_cyber_essentials_control_is_refused() -> None:
    with pytest.raises(ValueError):
        FrameworkRef("SOC 2", "CC6.1")
    with pytest.raises(ValueError):
        cyber_essentials("Patching")


def test_catalogue_and_pack_show_the_references() -> None:
    page = render()
    infos = rule_infos(ALL_RULES)
    for rule in ALL_RULES:
        shown = "; ".join(str(f) for f in rule.metadata.frameworks)
        assert f"- **Frameworks**: {shown}" in page
        assert infos[rule.metadata.id].frameworks == tuple(str(f) for f in rule.metadata.frameworks)
