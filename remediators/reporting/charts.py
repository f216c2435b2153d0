"""Chart geometry for the pack: plain numbers the template turns into inline SVG.

Inline SVG drawn at build time needs nothing at view time (no script, no font or library fetched, nothing
for a Content-Security-Policy to allow), works in the Function App where only requirements.txt is
installed, and is accessible: each chart is an `img` with a title and a description, every bar carries its
own `<title>` (a tooltip and a screen-reader label), and a data table with the same numbers follows each
chart. Labels are untrusted trail text: they stay data here and the template escapes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

SEVERITY_COLOURS = {
    "critical": "#7a0019",
    "high": "#d1495b",
    "medium": "#e9a23b",
    "low": "#00798c",
    "unknown": "#8d8d8d",
}


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str  # <title>: what this bar means, in words


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    width: int
    height: int
    rects: tuple[Rect, ...]
    texts: tuple[Text, ...]
    x_ticks: tuple[Tick, ...] = ()
    y_ticks: tuple[Tick, ...] = ()
    plot: tuple[float, float, float, float] = (0, 0, 0, 0)  # x, y, width, height of the plot area
    empty: str = ""  # shown instead of bars when there is nothing to draw
    legend: tuple[tuple[str, str], ...] = ()  # (colour, text)


def nice_max(value: float) -> tuple[float, float]:
    """An axis top >= value and a step giving 2-5 gridlines (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0, 1.0
    if value <= 5 and float(value).is_integer():
        return float(value), 1.0
    raw = value / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return math.ceil(value / step) * step, step


def stacked_days(
    chart_id: str, title: str, description: str, days: Sequence[tuple[str, str, Mapping[str, int]]],
    order: Sequence[str], width: int = 760, height: int = 260,
) -> Chart:
    """One stacked bar per day. `days` holds (axis label, full date, counts by series)."""
    left, top, right, bottom = 44, 12, 12, 30
    pw, ph = width - left - right, height - top - bottom
    top_value, step = nice_max(max((sum(c.values()) for _, _, c in days), default=0))
    band = pw / max(len(days), 1)
    rects: list[Rect] = []
    x_ticks: list[Tick] = []
    for i, (axis, full, counts) in enumerate(days):
        x = left + i * band + band * 0.15
        y = top + ph
        for series in order:
            n = counts.get(series, 0)
            if not n:
                continue
            h = ph * n / top_value
            y -= h
            rects.append(Rect(round(x, 2), round(y, 2), round(band * 0.7, 2), round(h, 2),
                              SEVERITY_COLOURS.get(series, "#555"), f"{full}: {n} open {series}"))
        if len(days) <= 10 or i % 5 == 0 or i == len(days) - 1:
            x_ticks.append(Tick(round(left + i * band + band / 2, 2), axis))
    y_ticks = tuple(Tick(round(top + ph - ph * v / top_value, 2), _number(v))
                    for v in _steps(top_value, step))
    total = sum(sum(c.values()) for _, _, c in days)
    return Chart(chart_id, title, description, width, height, tuple(rects), (), tuple(x_ticks), y_ticks,
                 (left, top, pw, ph), "" if total else "No open findings on any day of the period.",
                 tuple((SEVERITY_COLOURS[s], s) for s in order if s in SEVERITY_COLOURS))


def horizontal_bars(
    chart_id: str, title: str, description: str, items: Sequence[tuple[str, float]], unit: str,
    colour: str = "#2b5d8a", empty: str = "Nothing to show for this period.", width: int = 760,
    value_text: Callable[[float], str] | None = None,
) -> Chart:
    """One labelled bar per item, largest first as given; labels are truncated for the axis only (the bar's
    title keeps the whole text)."""
    label_w, right, row, top = 330, 90, 26, 6
    height = top * 2 + row * max(len(items), 1)
    pw = width - label_w - right
    top_value, _step = nice_max(max((v for _, v in items), default=0))
    rects, texts = [], []
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = pw * value / top_value if top_value else 0
        shown = value_text(value) if value_text else f"{round(value, 1):g} {unit}".strip()
        rects.append(Rect(label_w, y + 4, round(max(w, 1.5), 2), row - 8, colour, f"{label}: {shown}"))
        texts.append(Text(label_w - 8, y + row / 2 + 4, _clip(label, 42), "end"))
        texts.append(Text(label_w + max(w, 1.5) + 6, y + row / 2 + 4, shown))
    return Chart(chart_id, title, description, width, height, tuple(rects), tuple(texts),
                 plot=(label_w, top, pw, height - 2 * top), empty="" if items else empty)


def _steps(top: float, step: float) -> list[float]:
    out, v = [], 0.0
    while v <= top + 1e-9:
        out.append(v)
        v += step
    return out


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
