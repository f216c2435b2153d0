"""`make demo` must converge on a fresh checkout: run it as a user would and read its verdict."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_converges_and_verifies_its_audit_trail() -> None:
    proc = subprocess.run([sys.executable, "-m", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if not k.startswith(("WARDEN_", "IDENTITY_"))})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "== CONVERGED" in out
    assert "OK: " in out and "verified" in out  # audit verify passed
    assert "own writes came back as events and were dropped" in out
    assert "Traceback" not in out
