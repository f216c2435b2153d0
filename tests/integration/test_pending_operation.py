"""A PATCH whose operation outlives WARDEN_LRO_WAIT_SECONDS (the recorded shape: 202, InProgress polls, the
change visible only when it finishes): pending, never failed; the next invocation records the outcome ARM
shows: the operation's status URL in the recorded shape, the cache itself in the `updating` shape (no URL)."""

from __future__ import annotations

from pathlib import Path

from emulator.principals import WARDEN
from emulator.testing import sample_cache

from .stack import running_stack

OFFICE = ("office", "81.2.69.0", "81.2.69.255")
# The slow profile: the operation takes longer than the warden waits (ARM's recorded ~30 s against the
# default 20 s wait, scaled down so the test stays short).
SLOW = {"lroSeconds": 3}
WAIT = {"WARDEN_LRO_WAIT_SECONDS": "1", "WARDEN_DEFER_BASE_SECONDS": "1"}


def test_an_operation_that_outlives_the_wait_is_pending_then_confirmed_by_the_next_read(tmp_path: Path) -> None:
    fleet = [sample_cache("slow-cache", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE], knobs=SLOW)]
    with running_stack(tmp_path, fleet, settings=WAIT) as stack:
        stack.jane().redis.begin_update("rg-payments", "slow-cache", {"tags": {"touched": "yes"}}).result()
        stack.settle(timeout=90)
        kinds = stack.kinds("slow-cache")
        assert "remediation-failed" not in kinds and "blocked" not in kinds, kinds
        pending = [r for r in stack.records() if r["kind"] == "remediation-pending"]
        done = [r for r in stack.records() if r["kind"] == "remediated" and r.get("rule") == "non-ssl-port"]
        assert len(pending) == 1 and len(done) == 1, kinds
        assert done[0]["request_id"] == pending[0]["request_id"]  # the PATCH ARM accepted
        # The recorded shape's status URL tells the outcome; the `updating` shape has none: the cache read does.
        recorded = any("/asyncoperations/" in c["path"].lower() for c in stack.arm.requests())
        assert done[0]["outcome"]["confirmed_by"] == ("operation status" if recorded else "cache read")
        after = kinds[kinds.index("remediation-pending"):]
        assert "deferred" in after and after.index("deferred") < after.index("remediated")
        assert stack.cache("slow-cache")["properties"]["enableNonSslPort"] is False
        patches = [c for c in stack.arm.requests()
                   if c["method"] == "PATCH" and c["caller"]["appid"] == WARDEN.client_id]
        assert len(patches) == 1  # not sent again while ARM applies it
