"""Exact IPv4 range arithmetic for firewall rules.

Redis firewall rules are closed intervals `startIP..endIP`; the firewall rule and the planner reason about
"which addresses are admitted" as sets of such intervals. Everything is integer arithmetic on `ipaddress`
values, with no prefix shortcuts (PSRule treats any `172.*` as private; RFC 1918 says 172.16.0.0/12).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

IPV4_MAX = 2**32 - 1
Interval = tuple[int, int]  # closed: (first, last), first <= last


class InvalidRange(ValueError):
    """The text is not an IPv4 address, CIDR block or "start-end" range."""


def ip_to_int(text: str) -> int:
    try:
        return int(ipaddress.IPv4Address(text.strip()))
    except (ipaddress.AddressValueError, ValueError) as exc:
        raise InvalidRange(f"{text!r} is not an IPv4 address") from exc


def int_to_ip(value: int) -> str:
    if not 0 <= value <= IPV4_MAX:
        raise InvalidRange(f"{value} is outside the IPv4 address space")
    return str(ipaddress.IPv4Address(value))


def parse_range(text: str) -> Interval:
    """"a.b.c.d", "a.b.c.d/n" (host bits must be zero) or "start-end" (start <= end) -> closed interval."""
    if not isinstance(text, str):
        raise InvalidRange(f"{text!r} is not a string")
    raw = text.strip()
    if "/" in raw:
        try:
            net = ipaddress.IPv4Network(raw, strict=True)
        except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError) as exc:
            raise InvalidRange(f"{text!r} is not a valid IPv4 CIDR block: {exc}") from exc
        return int(net.network_address), int(net.broadcast_address)
    if "-" in raw:
        start_s, _, end_s = raw.partition("-")
        start, end = ip_to_int(start_s), ip_to_int(end_s)
        if start > end:
            raise InvalidRange(f"{text!r}: start address is after end address")
        return start, end
    single = ip_to_int(raw)
    return single, single


def interval_of(start_ip: str, end_ip: str) -> Interval:
    """A firewall rule's (startIP, endIP) as an interval; refuses an inverted rule rather than guessing."""
    start, end = ip_to_int(start_ip), ip_to_int(end_ip)
    if start > end:
        raise InvalidRange(f"{start_ip}-{end_ip}: start address is after end address")
    return start, end


def interval_to_ips(interval: Interval) -> tuple[str, str]:
    return int_to_ip(interval[0]), int_to_ip(interval[1])


def _normalise(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    ordered = sorted(intervals)
    merged: list[Interval] = []
    for lo, hi in ordered:
        if lo > hi or lo < 0 or hi > IPV4_MAX:
            raise InvalidRange(f"({lo}, {hi}) is not an IPv4 interval")
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


@dataclass(frozen=True)
class AddressSet:
    """A set of IPv4 addresses as sorted, disjoint, non-adjacent closed intervals (so equality is set
    equality). Build with `AddressSet.of(...)`, `from_ranges`, `EMPTY` or `ALL`."""

    intervals: tuple[Interval, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "intervals", _normalise(self.intervals))

    @classmethod
    def of(cls, *intervals: Interval) -> AddressSet:
        return cls(tuple(intervals))

    @classmethod
    def from_ranges(cls, texts: Iterable[str]) -> AddressSet:
        return cls(tuple(parse_range(t) for t in texts))

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> AddressSet:
        return cls(tuple(interval_of(s, e) for s, e in pairs))

    def __iter__(self) -> Iterator[Interval]:
        return iter(self.intervals)

    def __bool__(self) -> bool:
        return bool(self.intervals)

    def __len__(self) -> int:
        return len(self.intervals)

    @property
    def size(self) -> int:
        """Number of addresses (not intervals)."""
        return sum(hi - lo + 1 for lo, hi in self.intervals)

    def __contains__(self, address: object) -> bool:
        if isinstance(address, str):
            address = ip_to_int(address)
        if not isinstance(address, int):
            return False
        return any(lo <= address <= hi for lo, hi in self.intervals)

    def union(self, other: AddressSet) -> AddressSet:
        return AddressSet(self.intervals + other.intervals)

    def intersection(self, other: AddressSet) -> AddressSet:
        out: list[Interval] = []
        i = j = 0
        a, b = self.intervals, other.intervals
        while i < len(a) and j < len(b):
            lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
            if lo <= hi:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return AddressSet(tuple(out))

    def difference(self, other: AddressSet) -> AddressSet:
        out: list[Interval] = []
        for lo, hi in self.intervals:
            cur = lo
            for olo, ohi in other.intervals:
                if ohi < cur or olo > hi:
                    continue
                if olo > cur:
                    out.append((cur, olo - 1))
                cur = ohi + 1
                if cur > hi:
                    break
            if cur <= hi:
                out.append((cur, hi))
        return AddressSet(tuple(out))

    def issubset(self, other: AddressSet) -> bool:
        return not self.difference(other)

    __or__ = union
    __and__ = intersection
    __sub__ = difference
    __le__ = issubset

    def as_ip_pairs(self) -> tuple[tuple[str, str], ...]:
        """The intervals as (startIP, endIP) strings, the shape of a firewall rule."""
        return tuple(interval_to_ips(iv) for iv in self.intervals)

    def split(self, max_size: int) -> tuple[Interval, ...]:
        """The set as intervals of at most `max_size` addresses each, in address order, so every piece
        fits a firewall rule width limit."""
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        pieces: list[Interval] = []
        for lo, hi in self.intervals:
            cur = lo
            while cur <= hi:
                end = min(hi, cur + max_size - 1)
                pieces.append((cur, end))
                cur = end + 1
        return tuple(pieces)

    def to_cidrs(self) -> tuple[str, ...]:
        """The set as the minimal list of CIDR blocks (for messages and PSRule-style reports)."""
        out: list[str] = []
        for lo, hi in self.intervals:
            nets = ipaddress.summarize_address_range(ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi))
            out.extend(str(n) for n in nets)
        return tuple(out)


EMPTY = AddressSet()
ALL_IPV4 = AddressSet.of((0, IPV4_MAX))
RFC1918 = AddressSet.from_ranges(("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def is_private(interval: Interval) -> bool:
    """True when every address of the interval is inside RFC 1918 (exactly, not by prefix)."""
    return AddressSet.of(interval).issubset(RFC1918)
