"""A token bucket: at most `rate` commands a second on average, bursts of at most `burst`.

Clock and sleep are injected so tests can check the pacing without waiting on a wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    burst: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _tokens: float = field(init=False)
    _last: float = field(init=False)
    slept: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._tokens = self.burst
        self._last = self.clock()

    def take(self, n: float = 1.0) -> None:
        """Block until `n` tokens are available, then spend them. `n` above the burst is taken in parts."""
        while n > 0:
            part = min(n, self.burst)
            self._refill()
            if self._tokens < part:
                wait = (part - self._tokens) / self.rate
                self.sleep(wait)
                self.slept += wait
                self._refill()
            self._tokens -= part
            n -= part

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
