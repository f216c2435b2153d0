"""Build the monthly assessment pack from a trail source: the HTML page, two CSV files and the OCSF export.

`build_pack` returns the files as bytes (the monthly timer uploads them to the WORM audit storage);
`write_pack` writes them into a directory for the CLI. The pack's first section is what `audit verify`
says about the same source, obtained through its public entry point (`run_verify`), so the page can never
claim more integrity than the verifier does.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from ..audit.reader import TrailSource, load_records
from ..audit.verify import run_verify
from .assessment import Assessment, VerifySummary, assess, rule_infos
from .html import render
from .ocsf import findings_document
from .period import Period
from .tables import write_caches, write_findings


class PackError(ValueError):
    """The pack cannot be written where asked (the CLI prints it and exits 2)."""


@dataclass(frozen=True)
class Pack:
    assessment: Assessment
    files: dict[str, bytes]  # file name -> contents, HTML first


def verify_summary(
    source: TrailSource, key_fingerprints: Collection[str] | None, now: datetime | None = None
) -> VerifySummary:
    """Run `audit verify` on the source as at `now` (the pack's generation time, so a checkpoint that has
    gone stale since counts) and keep what it printed: OK/FAILED line, problems, warnings."""
    out = io.StringIO()
    code = run_verify(source, key_fingerprints, out, now=now)
    lines = out.getvalue().splitlines()
    warnings = tuple(line.removeprefix("warning: ") for line in lines if line.startswith("warning: "))
    main = next((line for line in lines if line.startswith(("OK:", "FAILED:"))), "")
    problems = tuple(line.strip().removeprefix("also ") for line in lines if line.startswith("  also "))
    if main.startswith("FAILED:"):
        problems = (main.removeprefix("FAILED: "), *problems)
    signed_by: list[str] = []
    for stored in source.checkpoints():
        try:
            fp = json.loads(stored.data).get("payload", {}).get("key_fingerprint")
        except (ValueError, AttributeError):
            continue  # verify has named it already
        if isinstance(fp, str) and fp not in signed_by:
            signed_by.append(fp)
    pinned = tuple(fp.strip().lower() for fp in key_fingerprints or () if fp.strip())
    return VerifySummary(ok=code == 0, text=main or out.getvalue().strip(), problems=problems,
                         warnings=warnings, pinned=pinned, signed_by=tuple(signed_by))


def file_names(period: Period) -> list[str]:
    slug = period.slug
    return [f"redis-warden-assessment-{slug}.html", f"findings-{slug}.csv", f"caches-{slug}.csv",
            f"findings-{slug}.ocsf.json"]


def build_pack(
    source: TrailSource, period: Period, *, key_fingerprints: Collection[str] | None = None,
    now: datetime | None = None, rules: Sequence[object] | None = None,
) -> Pack:
    if rules is None:
        from ..rules import ALL_RULES

        rules = ALL_RULES
    now = now or datetime.now(UTC)
    verify = verify_summary(source, key_fingerprints, now)
    assessment = assess(load_records(source), period, verify, rule_infos(rules), now)
    names = file_names(period)
    findings, caches = io.StringIO(), io.StringIO()
    write_findings(assessment, findings)
    write_caches(assessment, caches)
    html = render(assessment, source=source.description, files=names, version=__version__)
    ocsf = json.dumps(findings_document(assessment, __version__), indent=2, ensure_ascii=False)
    # CSV with a UTF-8 byte-order mark so Excel reads accents and the pound sign correctly
    return Pack(assessment, {
        names[0]: html.encode("utf-8"),
        names[1]: "\ufeff".encode() + findings.getvalue().encode("utf-8"),
        names[2]: "\ufeff".encode() + caches.getvalue().encode("utf-8"),
        names[3]: (ocsf + "\n").encode("utf-8"),
    })


def write_pack(pack: Pack, out_dir: str | Path) -> list[Path]:
    """Write every file into `out_dir` (created if missing), each atomically (a reader never sees half a
    file); returns the paths, HTML first."""
    directory = Path(out_dir)
    if directory.exists() and not directory.is_dir():
        raise PackError(f"--out {directory} is a file, not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, data in pack.files.items():
            target = directory / name
            tmp = directory / f".{name}.{secrets.token_hex(6)}"
            # os.open with 0o666 leaves the mode to the umask, like any file a reviewer writes (mkstemp: 0600)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
            paths.append(target)
    except OSError as exc:
        raise PackError(f"cannot write the pack into {directory}: {exc.strerror or exc}") from None
    return paths
