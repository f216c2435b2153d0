"""Maintenance windows: when a scope allows the disruptive fixes it opted in to.

Windows are written in local wall-clock time of a named IANA zone ("Europe/London"), because that is how
change boards agree them; the check converts the (timezone-aware) evaluation time into that zone, so the
window follows the clocks across GMT/BST changes. A window whose end is not after its start runs past
midnight into the next day; `days` are the days on which a window *starts*.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import BaselineError

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class MaintenanceWindow:
    days: frozenset[int]  # 0 = Monday, as datetime.weekday()
    start_minute: int  # minutes after local midnight, 0..1439
    end_minute: int  # 1..1440 ("24:00" = end of day)
    timezone: str

    @property
    def wraps(self) -> bool:
        return self.end_minute <= self.start_minute

    def contains(self, now: datetime) -> bool:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("maintenance windows are checked against a timezone-aware time")
        local = now.astimezone(ZoneInfo(self.timezone))
        seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        start, end = self.start_minute * 60, self.end_minute * 60
        today = local.weekday()
        if not self.wraps:
            return today in self.days and start <= seconds < end
        yesterday = (local - timedelta(days=1)).weekday()
        return (today in self.days and seconds >= start) or (yesterday in self.days and seconds < end)


def _minutes(text: str, path: str, *, allow_end_of_day: bool) -> int:
    hours, _, mins = text.partition(":")
    value = int(hours) * 60 + int(mins)  # the schema already enforced HH:MM digits
    if value > 1440 or (value == 1440 and not allow_end_of_day) or int(mins) > 59:
        raise BaselineError(path, f"{text!r} is not a time of day (00:00-23:59; 24:00 only as an end)")
    return value


def parse_window(raw: dict, path: str) -> MaintenanceWindow:
    """One schema-valid window object -> MaintenanceWindow; semantic checks name the field at fault."""
    tz = raw["timezone"]
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BaselineError(f"{path}/timezone", f"unknown time zone {tz!r}") from exc
    start = _minutes(raw["start"], f"{path}/start", allow_end_of_day=False)
    end = _minutes(raw["end"], f"{path}/end", allow_end_of_day=True)
    if start == end % 1440 and end != 1440:
        raise BaselineError(f"{path}/end", "a window must not end when it starts")
    return MaintenanceWindow(frozenset(DAYS.index(d) for d in raw["days"]), start, end, tz)
