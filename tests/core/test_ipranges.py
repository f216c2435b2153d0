from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remediators.ipranges import (
    ALL_IPV4,
    EMPTY,
    IPV4_MAX,
    RFC1918,
    AddressSet,
    InvalidRange,
    interval_of,
    interval_to_ips,
    ip_to_int,
    is_private,
    parse_range,
)


def test_parse_single_cidr_and_range() -> None:
    assert parse_range("10.0.0.1") == (ip_to_int("10.0.0.1"),) * 2
    assert parse_range("10.0.0.0/30") == (ip_to_int("10.0.0.0"), ip_to_int("10.0.0.3"))
    assert parse_range(" 1.2.3.4 - 1.2.3.9 ") == (ip_to_int("1.2.3.4"), ip_to_int("1.2.3.9"))
    assert parse_range("0.0.0.0/0") == (0, IPV4_MAX)


@pytest.mark.parametrize(
    "bad", ["", "10.0.0", "256.1.1.1", "10.0.0.1/24", "10.0.0.0/33", "1.2.3.9-1.2.3.4", "::1", "a-b", "1.2.3.4/x"]
)
def test_parse_rejects(bad: str) -> None:
    with pytest.raises(InvalidRange):
        parse_range(bad)


def test_interval_of_refuses_inverted_rule() -> None:
    with pytest.raises(InvalidRange):
        interval_of("10.0.0.9", "10.0.0.1")
    assert interval_to_ips(interval_of("10.0.0.1", "10.0.0.9")) == ("10.0.0.1", "10.0.0.9")


def test_normalisation_merges_overlapping_and_adjacent() -> None:
    s = AddressSet.from_ranges(["10.0.0.4-10.0.0.7", "10.0.0.0-10.0.0.3", "10.0.0.6-10.0.0.9", "11.0.0.0"])
    assert s.as_ip_pairs() == (("10.0.0.0", "10.0.0.9"), ("11.0.0.0", "11.0.0.0"))
    assert s.size == 11
    assert "10.0.0.5" in s and "10.0.0.10" not in s


def test_rfc1918_is_exact_not_prefix() -> None:
    assert RFC1918.size == 2**24 + 2**20 + 2**16
    assert is_private(parse_range("172.16.0.0/12"))
    assert not is_private(parse_range("172.15.255.255"))
    assert not is_private(parse_range("172.32.0.0"))  # PSRule's "172.*" prefix would call this private
    assert not is_private(parse_range("192.167.255.255-192.168.0.1"))
    assert is_private(parse_range("192.168.10.0/24"))


def test_set_algebra_examples() -> None:
    a = AddressSet.from_ranges(["10.0.0.0/24"])
    b = AddressSet.from_ranges(["10.0.0.128-10.0.1.10"])
    assert (a & b).as_ip_pairs() == (("10.0.0.128", "10.0.0.255"),)
    assert (a - b).as_ip_pairs() == (("10.0.0.0", "10.0.0.127"),)
    assert (b - a).as_ip_pairs() == (("10.0.1.0", "10.0.1.10"),)
    assert (a | b).as_ip_pairs() == (("10.0.0.0", "10.0.1.10"),)
    assert (a & b) <= a and not a <= b
    assert ALL_IPV4 - ALL_IPV4 == EMPTY
    assert (ALL_IPV4 - RFC1918).size + RFC1918.size == 2**32


def test_split_and_cidrs() -> None:
    s = AddressSet.from_ranges(["10.0.0.0-10.0.2.9"])
    pieces = s.split(256)
    assert [hi - lo + 1 for lo, hi in pieces] == [256, 256, 10]
    assert AddressSet(pieces) == s
    assert AddressSet.from_ranges(["10.0.0.0-10.0.0.5"]).to_cidrs() == ("10.0.0.0/30", "10.0.0.4/31")
    with pytest.raises(ValueError):
        s.split(0)


# ------------------------------------------------------------------ properties against Python sets

_addr = st.integers(min_value=0, max_value=60)
_ivs = st.lists(st.tuples(_addr, _addr).map(lambda t: (min(t), max(t))), max_size=6)


def _as_set(ivs: list[tuple[int, int]]) -> set[int]:
    return {a for lo, hi in ivs for a in range(lo, hi + 1)}


def _members(s: AddressSet) -> set[int]:
    return _as_set(list(s.intervals))


@given(_ivs, _ivs)
def test_algebra_matches_python_sets(x: list[tuple[int, int]], y: list[tuple[int, int]]) -> None:
    a, b = AddressSet(tuple(x)), AddressSet(tuple(y))
    sa, sb = _as_set(x), _as_set(y)
    assert _members(a) == sa and a.size == len(sa)
    assert _members(a | b) == sa | sb
    assert _members(a & b) == sa & sb
    assert _members(a - b) == sa - sb
    assert a.issubset(b) == sa.issubset(sb)
    # canonical form: sorted, disjoint, non-adjacent
    for (lo1, hi1), (lo2, _) in zip(a.intervals, a.intervals[1:], strict=False):
        assert hi1 + 1 < lo2 and lo1 <= hi1


@given(_ivs, st.integers(min_value=1, max_value=9))
def test_split_covers_exactly_with_bounded_pieces(x: list[tuple[int, int]], size: int) -> None:
    s = AddressSet(tuple(x))
    pieces = s.split(size)
    assert all(hi - lo + 1 <= size for lo, hi in pieces)
    assert sum(hi - lo + 1 for lo, hi in pieces) == s.size
    assert AddressSet(pieces) == s
