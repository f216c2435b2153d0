"""How many write answers this process has given whose shape depends on the emulator's LRO shape.

The suite runs twice (`make test`): once with the LRO shape recorded from real traffic (202 +
Azure-AsyncOperation), then with the spec's other answer (200 + Updating). Only a test during which the
emulator answered a write with an operation can see the difference, so the first pass notes those tests
(tests/conftest.py reads this count around each test) and the second pass runs exactly them. Counting at
the one place each API consults its shape keeps that selection true as tests are added: nothing to mark.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_answers = 0


def note_shaped_answer() -> None:
    """Called where an API chooses between the two LRO shapes for a write it accepted."""
    global _answers
    with _lock:
        _answers += 1


def shaped_answers() -> int:
    """Write answers given so far in this process whose shape depended on the LRO shape."""
    with _lock:
        return _answers
