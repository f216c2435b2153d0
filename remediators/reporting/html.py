"""The pack's HTML page: Jinja2 templates shipped beside this module, autoescaped.

Every string in an `Assessment` may come from the trail, which someone other than redis-warden may have
written (a cache name, an actor, an approver, an exemption id): autoescape is on for the whole template and
the page's Content-Security-Policy allows no script at all, so a `<script>` in a cache name is shown as text
and could not run even if a template forgot to escape it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from jinja2 import Environment, PackageLoader, StrictUndefined

from ..audit.londontime import LONDON, london_text
from ..audit.report import SEVERITY_ORDER
from .assessment import Assessment
from .charts import SEVERITY_COLOURS, Chart, horizontal_bars, stacked_days

_ENV = Environment(
    loader=PackageLoader("remediators.reporting", "templates"),
    autoescape=True,
    undefined=StrictUndefined,  # a misspelt field fails the build instead of leaving a blank
    trim_blocks=False,
    lstrip_blocks=False,
)


def _london(value: str) -> str:
    try:
        return london_text(value)
    except ValueError:
        return value


def mttr_text(minutes: float | None) -> str:
    if minutes is None:
        return "no fixes"
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def _count(value: float) -> str:
    return f"{value:g}"


def charts(a: Assessment, titles: dict[str, str]) -> dict[str, Chart]:
    days = [(d.day.strftime("%d"), d.day.strftime("%d/%m/%Y"), d.open) for d in a.days]
    order = [*SEVERITY_ORDER, "unknown"]
    exemptions = [(f"{e.id} on {e.cache.name}", float(max(e.days_left or 0, 0))) for e in a.exemptions]
    return {
        "open": stacked_days(
            "chart-open", "Open findings by severity at the end of each day",
            f"Stacked bars, one per day of {a.period.label}; the data table below gives the same numbers.",
            days, order),
        "drift_rule": horizontal_bars(
            "chart-drift-rule", "Drift events by rule", "One bar per rule: how many drift events it saw.",
            [(titles.get(r, r), float(n)) for r, n in a.drift_by_rule], "events", colour="#2b5d8a",
            empty="No drift events this month.", value_text=_count),
        "drift_actor": horizontal_bars(
            "chart-drift-actor", "Drift events by who caused them",
            "One bar per actor (object id, or not attributable): how many drift events they caused.",
            [(who, float(n)) for who, n in a.drift_by_actor], "events", colour="#6a4c93",
            empty="No drift events this month.", value_text=_count),
        "mttr": horizontal_bars(
            "chart-mttr", "Mean time to remediate by rule",
            "One bar per rule: the mean minutes from a finding opening to its remediation this month.",
            [(titles.get(r, r), m) for r, m, _n in a.mttr_by_rule()], "min", colour="#1d6b38",
            empty="No finding was remediated this month.", value_text=mttr_text),
        "exemptions": horizontal_bars(
            "chart-exemptions", "Days until each exemption expires",
            "One bar per exemption: days from the as-at date to its expiry (0 = expired).",
            exemptions, "days", colour=SEVERITY_COLOURS["medium"], empty="No exemption was applied."),
    }


def render(a: Assessment, *, source: str, files: list[str], version: str) -> str:
    from ..rules import ALL_RULES  # the registry imports every rule module; only rendering needs titles

    titles = {r.metadata.id: r.metadata.title for r in ALL_RULES}
    as_at = a.period.as_at
    return _ENV.get_template("pack.html.j2").render(
        a=a,
        charts=charts(a, titles),
        titles=titles,
        severities=SEVERITY_ORDER,
        assessed=[c for c in a.caches if c.assessment == "assessed"],
        drift_total=sum(n for _, n in a.drift_by_rule),
        mttr_text=mttr_text(a.mttr_minutes),
        as_at_text=_as_at_text(as_at),
        as_at_day=_as_at_day(as_at),
        generated_text=london_text(a.generated),
        source=source,
        files=files,
        version=version,
        london=_london,
    )


def _as_at_text(as_at: datetime) -> str:
    """The end of the period: "end of 30/11/2026" when it is a London midnight, else the London time."""
    text = london_text(as_at)
    return f"end of {_as_at_day(as_at)}" if text.split(" ")[1] == "00:00:00" else text


def _as_at_day(as_at: datetime) -> str:
    local = as_at.astimezone(LONDON)
    if local.strftime("%H:%M:%S") == "00:00:00":
        local -= timedelta(days=1)
    return local.strftime("%d/%m/%Y")
