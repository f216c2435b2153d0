"""Verification: recompute every hash, link and signature, and compare every chain with the checkpoints.

Pure over what `reader` loaded. Each chain is walked in stored order and the first broken record is named
with what happened to it: `edited` (contents no longer match a hash), `deleted` (a gap in seq, or a chain
that no longer starts at #0), `reordered` (a later seq stored before an earlier one), `duplicated` (the
same record stored twice), `truncated` (the chain ends before a checkpoint's head, or a torn last line),
`forged` (a record with a valid hash that no certified warden writer signed), `planted` (such a record
claiming a position its chain never reached, e.g. a head at #999999). Checkpoints are `bad-signature`
(contents or signature altered) or `unknown-key` (signed by a key whose fingerprint is not pinned).

With a pinned key the trail must also be anchored: `no-checkpoint` (no trusted checkpoint at all),
`stale-checkpoint` (the newest trusted one is older than the allowed age: newer ones were deleted, or the
warden stopped checkpointing), `unlisted` (a chain that began before a trusted checkpoint which does not
mention it) and `unsigned` (schema-v1 records that no trusted checkpoint covers).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from .canonical import parse_utc
from .checkpoint import CheckedCheckpoint, check_checkpoint
from .reader import Line, Segment, StoredCheckpoint, TrailSource, lines
from .schema import GENESIS, record_hash
from .writer_key import SIG_MISMATCH, RecordTrust, is_signed_format

# The hourly timer signs a checkpoint every hour; two hours allows one missed run. Reviewing an archive
# copied out of the live containers needs a longer age (or none: `--max-checkpoint-age 0`).
DEFAULT_MAX_CHECKPOINT_AGE = timedelta(hours=2)
# A chain whose first record is this much older than a checkpoint must be listed by it (the checkpoint's
# time is taken before its listing starts, and a record is stored within seconds of its time).
UNLISTED_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class Problem:
    kind: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.where}: {self.message}"


@dataclass
class _Chain:
    chain: str
    records: int = 0
    hashes: dict[int, str] = field(default_factory=dict)
    segments: dict[int, str] = field(default_factory=dict)
    last_seq: int = -1
    problem: Problem | None = None
    first_time: str | None = None  # time of the first stored record
    signed: bool = False  # a signed (v2) record was seen: every later record must be signed too
    unsigned_upto: int = -1  # highest seq of an unsigned (v1) record


@dataclass(frozen=True)
class VerifyResult:
    problems: tuple[Problem, ...]
    warnings: tuple[str, ...]
    chains: int
    records: int
    checkpoints: int  # good, trusted checkpoints

    @property
    def ok(self) -> bool:
        return not self.problems


def _rid(chain: str, seq: Any) -> str:
    return f"{chain}#{seq}"


def _fields_ok(r: Mapping[str, Any]) -> str | None:
    if not isinstance(r.get("seq"), int) or isinstance(r.get("seq"), bool) or r["seq"] < 0:
        return "seq is missing or not a non-negative integer"
    for key in ("chain", "prev_hash", "time", "kind"):
        if not isinstance(r.get(key), str):
            return f"{key} is missing"
    try:
        parse_utc(r["time"])
    except ValueError:
        return "time is not an ISO 8601 timestamp"
    return None


def _signature_problem(state: _Chain, r: Mapping[str, Any], trust: RecordTrust) -> str | None:
    """Why this record cannot be the warden's, or None (unsigned v1 records are judged by checkpoints)."""
    if is_signed_format(r):
        return trust.problem(r)
    if state.signed:
        return "an unsigned record follows signed records of its chain"
    return None


def _walk(key: str, chain_lines: Sequence[Line], trust: RecordTrust) -> _Chain:
    """The first broken record of one chain, and the seq -> hash index checkpoints are compared with."""
    state = _Chain(chain=key)
    positions: dict[int, list[int]] = {}
    for i, ln in enumerate(chain_lines):
        if ln.record is not None and isinstance(ln.record.get("seq"), int):
            positions.setdefault(ln.record["seq"], []).append(i)
    expected = 0
    prev: Line | None = None
    for i, ln in enumerate(chain_lines):
        r = ln.record
        if ln.torn:
            state.problem = Problem("truncated", ln.location, str(ln.error))
            return state
        if r is None:
            state.problem = Problem("edited", ln.location, f"unreadable record: {ln.error}")
            return state
        rid = _rid(r.get("chain", key), r.get("seq"))
        where = f"{rid} ({ln.location})"
        if r.get("hash") != record_hash(r):
            state.problem = Problem("edited", where, "its contents no longer match its hash")
            return state
        bad = _fields_ok(r)
        if bad:
            state.problem = Problem("edited", where, bad)
            return state
        # Who wrote it comes first: a record no warden writer signed is foreign wherever it claims to be.
        forged = _signature_problem(state, r, trust)
        if forged == SIG_MISMATCH:
            state.problem = Problem("edited", where, "its contents were changed and re-hashed: " + forged)
            return state
        if forged:
            kind = "planted" if r["seq"] != expected else "forged"
            claim = f" and claims {rid}, a position the chain never reached" if kind == "planted" else ""
            state.problem = Problem(kind, where, f"not written by a certified warden writer ({forged}){claim}")
            return state
        if prev is None:
            state.chain = r["chain"]
        if r["chain"] != state.chain or (ln.segment.day is not None and r["chain"] != ln.segment.chain_key):
            state.problem = Problem("edited", where, f"belongs to chain {r['chain']!r}, stored in {state.chain!r}")
            return state
        if ln.segment.day is not None and r["time"][:10] != ln.segment.day:
            state.problem = Problem("edited", where, f"time {r['time']} is not in the blob's UTC day {ln.segment.day}")
            return state
        seq = r["seq"]
        if seq == expected:
            if prev is None and r["prev_hash"] != GENESIS:
                state.problem = Problem("edited", where, "the first record does not start from the genesis hash")
                return state
            if prev is not None and prev.record is not None:
                p = prev.record
                if r["prev_hash"] != p["hash"]:
                    state.problem = Problem(
                        "edited", f"{_rid(state.chain, p['seq'])} ({prev.location})",
                        f"changed after {rid} was written: its hash no longer matches {rid}'s prev_hash",
                    )
                    return state
                if r["time"] < p["time"]:
                    state.problem = Problem("edited", where, f"its time is before {_rid(state.chain, p['seq'])}'s")
                    return state
        elif seq < expected:
            if state.hashes.get(seq) == r["hash"]:
                state.problem = Problem("duplicated", where, f"{rid} is stored again (first at {state.segments[seq]})")
            else:
                state.problem = Problem("edited", where, f"a second, different record claims {rid}")
            return state
        else:
            if any(j > i for j in positions.get(expected, [])):
                state.problem = Problem(
                    "reordered", where, f"{rid} is stored before {_rid(state.chain, expected)}"
                )
            elif prev is None:
                state.problem = Problem(
                    "deleted", where,
                    f"the chain starts at {rid}: its first record(s) #0..#{seq - 1} are missing",
                )
            else:
                state.problem = Problem(
                    "deleted", where,
                    f"record(s) #{expected}..#{seq - 1} are missing between "
                    f"{_rid(state.chain, expected - 1)} ({prev.location}) and {rid}",
                )
            return state
        state.hashes[seq] = r["hash"]
        state.segments[seq] = ln.location
        if state.first_time is None:
            state.first_time = r["time"]
        if is_signed_format(r):
            state.signed = True
        else:
            state.unsigned_upto = seq
        state.records += 1
        state.last_seq = seq
        expected = seq + 1
        prev = ln
    return state


def _group(segments: Sequence[Segment]) -> dict[str, list[Line]]:
    chains: dict[str, list[Line]] = {}
    for segment in segments:
        chains.setdefault(segment.chain_key, []).extend(lines(segment))
    return chains


def verify_trail(
    segments: Sequence[Segment], checkpoints: Sequence[StoredCheckpoint], pinned: Collection[str] | None,
    *, now: datetime | None = None, max_checkpoint_age: timedelta | None = DEFAULT_MAX_CHECKPOINT_AGE,
) -> VerifyResult:
    """`pinned` None checks everything against the keys the trail itself carries (self-consistency only);
    `max_checkpoint_age` None accepts a newest checkpoint of any age."""
    problems: list[Problem] = []
    warnings: list[str] = []
    trust = RecordTrust(pinned)
    walked = [_walk(key, chain_lines, trust) for key, chain_lines in sorted(_group(segments).items())]
    by_chain = {c.chain: c for c in walked}
    problems.extend(c.problem for c in walked if c.problem)

    checked: list[CheckedCheckpoint] = []
    for stored in checkpoints:
        try:
            doc = json.loads(stored.data)
        except ValueError:
            doc = None
        result = check_checkpoint(doc, stored.location, pinned)
        if result.problem:
            problems.append(Problem(result.problem, f"checkpoint {stored.location}", result.message))
        else:
            checked.append(result)

    covered = _compare_with_checkpoints(checked, by_chain, problems)
    if pinned is not None:
        _check_anchoring(walked, checked, covered, problems, now or datetime.now(UTC), max_checkpoint_age)

    if pinned is None and checked:
        warnings.append("no --key-fingerprint given: checkpoint signatures were checked against their own "
                        "embedded keys, so a checkpoint re-signed with another key would not be detected")
    if pinned is None and not checkpoints and walked:
        warnings.append("no checkpoints found: truncation of the tail of a chain cannot be detected")
    uncovered = sum(max(0, c.last_seq - covered.get(c.chain, -1)) for c in walked if not c.problem)
    if uncovered and checked:
        warnings.append(f"{uncovered} record(s) were written after the last checkpoint of their chain: "
                        "they are protected by the hash chain only (and by WORM retention in Azure)")
    return VerifyResult(
        problems=tuple(problems),
        warnings=tuple(warnings),
        chains=len(walked),
        records=sum(c.records for c in walked),
        checkpoints=len(checked),
    )


def _compare_with_checkpoints(
    checked: Sequence[CheckedCheckpoint], by_chain: Mapping[str, _Chain], problems: list[Problem]
) -> dict[str, int]:
    """Every chain against every trusted checkpoint's head for it; returns the highest covered seq."""
    covered: dict[str, int] = {}
    flagged: set[str] = set()
    for cp in sorted(checked, key=lambda c: c.time or "", reverse=True):  # newest first: "the last checkpoint"
        for head in cp.heads:
            chain = by_chain.get(head.chain)
            covered[head.chain] = max(covered.get(head.chain, -1), head.seq)
            if head.chain in flagged or (chain is not None and chain.problem):
                continue
            where = f"{_rid(head.chain, head.seq)}"
            if chain is None:
                problems.append(Problem("truncated", f"chain {head.chain}",
                                        f"the checkpoint of {cp.time} lists it up to #{head.seq}, but it is gone"))
            elif chain.last_seq < head.seq:
                problems.append(Problem(
                    "truncated", where,
                    f"chain ends at #{chain.last_seq} but the checkpoint of {cp.time} ({cp.location}) "
                    f"lists its head at #{head.seq}",
                ))
            elif chain.hashes.get(head.seq) != head.hash:
                problems.append(Problem(
                    "edited", f"{where} ({chain.segments.get(head.seq)})",
                    f"differs from the checkpoint of {cp.time} ({cp.location}): history was rewritten",
                ))
            else:
                continue
            flagged.add(head.chain)
    return covered


def _check_anchoring(
    walked: Sequence[_Chain], checked: Sequence[CheckedCheckpoint], covered: Mapping[str, int],
    problems: list[Problem], now: datetime, max_age: timedelta | None,
) -> None:
    """With a pinned key, what checkpoints must vouch for: that there is a recent one, that every chain
    older than a checkpoint is in it, and that every unsigned (v1) record is under one."""
    if not walked:
        return
    timed = [(parse_utc(cp.time), cp) for cp in checked if cp.time]
    if not timed:
        problems.append(Problem(
            "no-checkpoint", "trail",
            "no checkpoint signed by a pinned key: deletion of records and chains cannot be ruled out",
        ))
    else:
        newest, cp = max(timed, key=lambda pair: pair[0])
        if max_age is not None and now - newest > max_age:
            problems.append(Problem(
                "stale-checkpoint", f"checkpoint {cp.location}",
                f"the newest trusted checkpoint is from {cp.time}, older than the allowed "
                f"{max_age.total_seconds() / 3600:g} h: newer checkpoints were deleted or checkpointing stopped "
                "(review an archived copy with --max-checkpoint-age)",
            ))
    for chain in walked:
        if chain.problem:
            continue
        if chain.first_time is not None:
            started = parse_utc(chain.first_time)
            for at, cp in sorted(timed, key=lambda pair: pair[0]):
                listed = {h.chain for h in cp.heads} | set(cp.refused)
                if started < at - UNLISTED_GRACE and chain.chain not in listed:
                    problems.append(Problem(
                        "unlisted", f"chain {chain.chain}",
                        f"starts at {chain.first_time}, before the checkpoint of {cp.time} ({cp.location}), "
                        "which does not list it: planted after that checkpoint, or hidden from it",
                    ))
                    break
        first_uncovered = covered.get(chain.chain, -1) + 1
        if chain.unsigned_upto >= first_uncovered:
            problems.append(Problem(
                "unsigned", _rid(chain.chain, first_uncovered),
                f"unsigned (schema v1) record(s) #{first_uncovered}..#{chain.unsigned_upto} are under no "
                "trusted checkpoint: nothing shows the warden wrote them",
            ))


def run_verify(
    source: TrailSource, key_fingerprints: Collection[str] | None, out: TextIO, *, now: datetime | None = None,
    max_checkpoint_age: timedelta | None = DEFAULT_MAX_CHECKPOINT_AGE,
) -> int:
    """`audit verify`: 0 when everything verifies, 1 naming the first broken record otherwise."""
    pinned = [fp.strip().lower() for fp in key_fingerprints if fp.strip()] if key_fingerprints else None
    result = verify_trail(source.segments(), source.checkpoints(), pinned or None, now=now,
                          max_checkpoint_age=max_checkpoint_age)
    for warning in result.warnings:
        print(f"warning: {warning}", file=out)
    if result.ok:
        print(f"OK: {result.records} records in {result.chains} chain(s) and {result.checkpoints} "
              f"checkpoint(s) verified ({source.description})", file=out)
        return 0
    print(f"FAILED: {result.problems[0]}", file=out)
    for problem in result.problems[1:]:
        print(f"  also {problem}", file=out)
    return 1
