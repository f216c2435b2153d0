"""UK dates and Europe/London times for people; UTC for storage.

Reviewers in the UK read DD/MM/YYYY and local clock time; the trail stores UTC, which never repeats an
hour. On the last Sunday of October 01:00-01:59 happens twice in London (BST, then GMT), so every local
time is shown with its zone abbreviation beside the ISO UTC time, never alone.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .canonical import parse_utc

LONDON = ZoneInfo("Europe/London")
_UK_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


def parse_uk_date(text: str) -> date:
    """DD/MM/YYYY, strictly: 03/04/2026 is 3 April, and 2026-04-03 or 3/4/26 are refused, not guessed."""
    match = _UK_DATE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a UK date (DD/MM/YYYY)")
    day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date: {exc}") from exc


def london_day_start(day: date) -> datetime:
    """The UTC instant the London calendar day begins (23:00 UTC the day before, in BST)."""
    return datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)


def london_range(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """[start, end) in UTC for London calendar days `since`..`until`, both inclusive."""
    start = london_day_start(since) if since else None
    end = london_day_start(until + timedelta(days=1)) if until else None
    if start and end and end <= start:
        raise ValueError("--until is before --since")
    return start, end


def london(moment: datetime | str) -> tuple[str, str, str]:
    """(DD/MM/YYYY, HH:MM:SS, GMT|BST) for a UTC instant."""
    utc = parse_utc(moment) if isinstance(moment, str) else moment
    local = utc.astimezone(LONDON)
    return local.strftime("%d/%m/%Y"), local.strftime("%H:%M:%S"), local.tzname() or ""


def london_text(moment: datetime | str) -> str:
    day, clock, zone = london(moment)
    return f"{day} {clock} {zone}"


def expiry_text(moment: datetime | str) -> str:
    """An exemption expiry for people. A date-only expiry is stored as the next London midnight (it lasts
    to the end of the day), so `2099-12-31` reads "end of 31/12/2099", not "01/01/2100 00:00:00 GMT"."""
    utc = parse_utc(moment) if isinstance(moment, str) else moment
    local = utc.astimezone(LONDON)
    if local.time() == time(0):
        return f"end of {(local - timedelta(days=1)).strftime('%d/%m/%Y')}"
    return london_text(utc)


def expiry_day(moment: datetime | str) -> str:
    """The last UK calendar day an exemption covers (DD/MM/YYYY)."""
    utc = parse_utc(moment) if isinstance(moment, str) else moment
    local = utc.astimezone(LONDON)
    if local.time() == time(0):
        local -= timedelta(days=1)
    return local.strftime("%d/%m/%Y")
