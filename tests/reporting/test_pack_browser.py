"""The pack as a reviewer sees it: opened in a real headless Chromium (Debian's `chromium`, which `make test`
installs when missing). No console error, no request beyond the file itself, no script run by trail text,
every chart drawn, and a screenshot that is not blank. Set WARDEN_PACK_SCREENSHOT=path to keep it."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from remediators.audit.reader import FileSource
from remediators.reporting.pack import build_pack, write_pack
from remediators.reporting.period import period

from .browser import Chromium, chromium_path, png_colours
from .conftest import HOSTILE_APPROVER, HOSTILE_NAME, HOSTILE_OID

pytestmark = pytest.mark.skipif(chromium_path() is None and not os.environ.get("CI"),
                                reason="chromium not installed (make test installs it)")

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
PROBE = """(() => {
  const drawn = (el) => { const b = el.getBoundingClientRect(); return b.width > 0 && b.height > 0; };
  const charts = {};
  document.querySelectorAll('figure.chart').forEach((f) => {
    const svg = f.querySelector('svg');
    charts[f.id] = svg ? {drawn: drawn(svg), bars: [...svg.querySelectorAll('rect.bar')].filter(drawn).length,
                          titled: !!svg.querySelector('title') && svg.getAttribute('role') === 'img'}
                       : {empty: f.querySelector('p.empty') ? f.querySelector('p.empty').innerText : null};
  });
  return {
    title: document.title,
    first: document.querySelector('section').id,
    verdict: document.querySelector('.verdict strong').innerText,
    scripts: document.scripts.length,
    images: document.images.length,
    text: document.body.innerText,
    charts,
  };
})()"""


def test_the_pack_renders_in_chromium(november: Path, pack_key: tuple[Path, str], tmp_path: Path) -> None:
    pack = build_pack(FileSource(november), period("11/2026", None, NOW), key_fingerprints=[pack_key[1]], now=NOW)
    html = write_pack(pack, tmp_path / "pack")[0]
    with Chromium() as browser:
        visit = browser.visit(html.as_uri(), PROBE)
    keep = os.environ.get("WARDEN_PACK_SCREENSHOT")
    shot = tmp_path / "pack.png"
    shot.write_bytes(visit.screenshot)
    if keep:
        shutil.copyfile(shot, keep)

    assert visit.errors == []
    assert visit.dialogs == []  # no alert() from trail text
    assert set(visit.requests) <= {html.as_uri()}  # nothing fetched at view time
    page = visit.probe
    assert page["title"] == "redis-warden assessment: November 2026"
    assert page["first"] == "integrity" and page["verdict"] == "Audit verify: OK"
    assert page["scripts"] == 0 and page["images"] == 0  # the hostile <img>/<script> stayed text
    for hostile in (HOSTILE_NAME, HOSTILE_OID, HOSTILE_APPROVER, "EX-<b>1</b>"):
        assert hostile in page["text"]
    assert "not assessed" in page["text"] and "end of 31/12/2026" in page["text"]
    charts = page["charts"]
    assert set(charts) == {"chart-open", "chart-drift-rule", "chart-drift-actor", "chart-mttr", "chart-exemptions"}
    assert charts["chart-open"]["drawn"] and charts["chart-open"]["bars"] == 30 + 26  # critical daily, high from 5th
    assert charts["chart-drift-rule"]["bars"] == 2 and charts["chart-drift-actor"]["bars"] == 3
    assert charts["chart-mttr"]["bars"] == 1 and charts["chart-exemptions"]["bars"] == 1
    assert all(c.get("titled") for c in charts.values())
    width, height, colours = png_colours(visit.screenshot)
    assert width == 1200 and height > 2000 and colours > 50  # a full page with charts, not a blank sheet


def test_an_empty_month_says_so_instead_of_drawing_nothing(november: Path, tmp_path: Path) -> None:
    pack = build_pack(FileSource(november), period("12/2026", None, NOW), now=NOW)
    html = write_pack(pack, tmp_path / "pack")[0]
    with Chromium() as browser:
        visit = browser.visit(html.as_uri(), PROBE)
    assert visit.errors == []
    charts = visit.probe["charts"]
    assert charts["chart-drift-rule"] == {"empty": "No drift events this month."}
    assert charts["chart-mttr"] == {"empty": "No finding was remediated this month."}
    assert charts["chart-open"]["bars"] == 2 * 2  # 01/12 and 02/12: the firewall and cluster findings still open


def test_the_harness_would_see_a_broken_page(tmp_path: Path) -> None:
    """Negative control: the same checks catch a script error, a console error, a dialog and a fetch."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><title>broken</title><p>x</p><img src='http://127.0.0.1:9/x.png'>"
                    "<script>console.error('boom'); alert('hi'); notAFunction();</script>")
    with Chromium() as browser:
        visit = browser.visit(page.as_uri(), "document.title")
    assert any("boom" in e for e in visit.errors) and any("exception" in e for e in visit.errors)
    assert visit.dialogs == ["hi"] and any(r.startswith("http://127.0.0.1:9/") for r in visit.requests)
