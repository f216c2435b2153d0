"""The period a pack covers: a UK calendar month (MM/YYYY), optionally "as at" a day inside it (DD/MM/YYYY).

Reviewers think in London calendar days; the trail stores UTC. A month is [00:00 London on the 1st, 00:00
London on the 1st of the next month), which in BST starts at 23:00 UTC the day before. "As at" a day means
up to the end of that London day; the default is the end of the month, or now while the month is running.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ..audit.londontime import LONDON, london_day_start, parse_uk_date

_MONTH = re.compile(r"^(\d{2})/(\d{4})$")


class PeriodError(ValueError):
    """A month or as-at date a person typed that cannot be used: the CLI prints it and exits 2."""


@dataclass(frozen=True)
class Period:
    first_day: date  # the 1st of the month
    as_at: datetime  # UTC instant the pack is "as at" (exclusive end of what is counted)

    @property
    def start(self) -> datetime:
        return london_day_start(self.first_day)

    @property
    def end(self) -> datetime:
        """Exclusive UTC end of the month's London days."""
        return london_day_start(next_month(self.first_day))

    @property
    def label(self) -> str:
        return self.first_day.strftime("%B %Y")

    @property
    def slug(self) -> str:
        return self.first_day.strftime("%Y-%m")

    def days(self) -> list[date]:
        """Every London day of the month up to and including the as-at day."""
        out, day = [], self.first_day
        while day < next_month(self.first_day) and london_day_start(day) < self.as_at:
            out.append(day)
            day += timedelta(days=1)
        return out


def next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def parse_month(text: str) -> date:
    """MM/YYYY, strictly (11/2026 is November 2026; 2026-11 and 11/26 are refused, not guessed)."""
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(1)) <= 12:
        raise PeriodError(f"--month {text!r} is not a month as MM/YYYY (e.g. 11/2026)")
    return date(int(match.group(2)), int(match.group(1)), 1)


def period(month: str | None, as_at: str | None, now: datetime | None = None) -> Period:
    """The period for `--month` / `--as-at`; either may be omitted (month: the as-at day's month, else the
    current London month)."""
    now = now or datetime.now(UTC)
    try:
        as_at_day = parse_uk_date(as_at) if as_at else None
    except ValueError as exc:
        raise PeriodError(f"--as-at: {exc}") from None
    if month:
        first = parse_month(month)
    elif as_at_day:
        first = as_at_day.replace(day=1)
    else:
        first = now.astimezone(LONDON).date().replace(day=1)
    if as_at_day is not None:
        if as_at_day.replace(day=1) != first:
            raise PeriodError(f"--as-at {as_at} is not in {first.strftime('%m/%Y')}")
        end = london_day_start(as_at_day + timedelta(days=1))
    else:
        end = london_day_start(next_month(first))
    if london_day_start(first) > now:
        raise PeriodError(f"{first.strftime('%m/%Y')} has not started yet")
    return Period(first_day=first, as_at=min(end, now))
