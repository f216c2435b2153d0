"""docs/deploy.md says what the issue requires a new user to read (checked against the templates' names)."""

from __future__ import annotations

from . import bicep

DOC = (bicep.ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")


def test_deploy_doc_has_every_required_section() -> None:
    for needle in ("## 1. Prerequisites", "azd up", "What gets created", "## 4. Permissions", "dry-run",
                   "audit verify", "report --format", "Switching to remediate", "azd down",
                   "az bicep build", "azd provision --preview", "irreversible"):
        assert needle in DOC, needle


def test_deploy_doc_shows_how_to_check_the_lock_and_switch_dry_run() -> None:
    assert "az storage container immutability-policy show" in DOC and '"Locked"' in DOC
    assert "azd env set WARDEN_DRY_RUN false" in DOC


def test_every_azd_variable_the_parameters_read_is_documented() -> None:
    import re

    params = (bicep.INFRA / "main.parameters.json").read_text(encoding="utf-8")
    names = set(re.findall(r"\$\{([A-Z_]+)", params)) - {"AZURE_ENV_NAME", "AZURE_PRINCIPAL_ID"}
    missing = sorted(n for n in names if n not in DOC)
    assert not missing, missing
