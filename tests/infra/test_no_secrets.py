"""No secret in any template, parameter or setting; every checkov suppression is in the reviewed list."""

from __future__ import annotations

import re

from . import bicep

CHECKED = [*bicep.bicep_files(), bicep.INFRA / "main.parameters.json", bicep.ROOT / "azure.yaml",
           *sorted((bicep.INFRA / "hooks").iterdir())]

# Ways a Bicep template or setting would carry or fetch a secret.
SECRET_PATTERNS = [
    r"listKeys\(", r"listConnectionStrings\(", r"listSecrets\(", r"listCredentials\(", r"\.listKeys\(",
    r"AccountKey=", r"SharedAccessSignature", r"SharedAccessKey", r"sig=", r"@secure\(\)", r"password",
    r"clientSecret", r"InstrumentationKey=",
]


def test_no_secret_is_fetched_passed_or_written_anywhere() -> None:
    for path in CHECKED:
        text = path.read_text(encoding="utf-8")
        for pattern in SECRET_PATTERNS:
            assert not re.search(pattern, text, re.IGNORECASE), f"{path.name}: matches {pattern!r}"


def test_no_parameter_is_secure_or_has_a_secret_looking_default() -> None:
    for path in bicep.bicep_files():
        for name, param in (bicep.parse(path).get("parameters") or {}).items():
            decorators = {d["type"] for d in param.get("decorators") or []}
            assert "secure" not in decorators, f"{path.name}: {name} is a secret parameter"
            default = param.get("default")
            if isinstance(default, str):
                assert len(default) < 40 or " " in default, f"{path.name}: {name} has a key-like default"


def test_storage_access_is_by_identity_only() -> None:
    account = bicep.one("Microsoft.Storage/storageAccounts", "modules/storage.bicep").config["properties"]
    assert account["allowSharedKeyAccess"] is False
    insights = bicep.one("Microsoft.Insights/components").config["properties"]
    assert insights["DisableLocalAuth"] is True


def _inline_skips() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in bicep.bicep_files():
        for match in re.finditer(r"//\s*checkov:skip=(CKV2?_AZURE_\d+):\s*(\S.*)", path.read_text(encoding="utf-8")):
            found.add((match.group(1), str(path.relative_to(bicep.INFRA))))
    return found


def test_every_checkov_suppression_is_justified_in_the_reviewed_list() -> None:
    table = (bicep.INFRA / "checkov-suppressions.md").read_text(encoding="utf-8")
    rows = set()
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"CKV2?_AZURE_\d+", cells[0]):
            assert len(cells[2]) > 30 and len(cells[3]) > 10, f"{cells[0]}: justification too thin"
            rows.add((cells[0], cells[1].split("`")[1]))
    assert rows == _inline_skips()
