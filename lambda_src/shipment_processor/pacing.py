"""How fast the events writers send, and until when: AIMD on DynamoDB's throttling, and the invocation's deadline.

Why: a throttled table serves its capacity and refuses the rest. Resending refused writes at full speed costs CPU
and requests for nothing, and an exponential backoff per batch ignores the time the invocation has left. The
writers therefore pace every batch through one :class:`Pacer` per table and process: unlimited until DynamoDB
first throttles, then additive increase while writes succeed and multiplicative decrease on each new throttle
(the rate a throttled table serves is found in a few round trips and tracked as it grows). No pause or request
goes past the writers' deadline: what is not stored by then is left for the next invocation (see aws/backlog.py).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
MIN_RATE = 25.0  # items/s: one batch a second, the slowest a paced writer goes
DECREASE = 0.7  # on a new throttle, the rate is cut to this share of what was being stored
INCREASE_PER_S = 0.25  # while nothing is throttled, the rate grows by this share of itself per second...
INCREASE_MIN_PER_S = 50.0  # ...and at least by this many items/s per second
WINDOW_S = 1.0  # the stored rate is measured over this window
REQUEST_TIMEOUT_S = 5.0  # the longest one BatchWriteItem answer is waited for (DynamoDB answers in milliseconds)


def is_throttling(problem: str) -> bool:
    """True when a failed attempt's problem is DynamoDB throttling (an error code, or unprocessed items)."""
    return problem in THROTTLING_CODES or problem.endswith("unprocessed items")


def writes_deadline(
    remaining_ms: int | None, margin_ms: int, clock: Callable[[], float] = time.monotonic
) -> float | None:
    """The monotonic time by which the writers stop: half the checkpoint margin before the invocation ends, so
    the other half is left to record the checkpoint and queue the continuation. None: no deadline."""
    if remaining_ms is None:
        return None
    return clock() + max(0, remaining_ms - margin_ms // 2) / 1000


class Pacer:
    """AIMD pacing of the items sent to one table (thread-safe: the sdk path's writer threads share it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.rate: float | None = None  # items/s; None until the first throttle
        self._next = 0.0  # when the next items may go
        self._last_decrease = float("-inf")
        self._grown_at = 0.0
        self._stored: deque[tuple[float, int]] = deque()
        self._stored_sum = 0
        self.throttles = 0

    def reserve(self, items: int) -> float:
        """Book a send of ``items``; return how many seconds to wait before sending them (0: at once)."""
        with self._lock:
            if self.rate is None:
                return 0.0
            now = self._clock()
            start = max(now, self._next)
            self._next = start + items / self.rate
            return start - now

    def stored(self, items: int) -> None:
        """``items`` were stored: the rate grows (additive increase), and the stored rate is measured."""
        with self._lock:
            now = self._clock()
            self._stored.append((now, items))
            self._stored_sum += items
            while self._stored and self._stored[0][0] < now - WINDOW_S:
                self._stored_sum -= self._stored.popleft()[1]
            if self.rate is not None and items:  # an answer that stored nothing is no reason to speed up
                elapsed = min(now - self._grown_at, WINDOW_S)
                self.rate += max(self.rate * INCREASE_PER_S, INCREASE_MIN_PER_S) * elapsed
                self._grown_at = now

    def slowest(self) -> bool:
        """True when the rate is down to MIN_RATE: the table is refusing nearly everything."""
        return self.rate == MIN_RATE

    def throttled(self, sent_at: float) -> None:
        """A request sent at ``sent_at`` (monotonic) was throttled: cut the rate, once per round of requests (a
        request sent before the last cut says nothing new)."""
        with self._lock:
            self.throttles += 1
            if sent_at <= self._last_decrease:
                return
            now = self._clock()
            measured = self._stored_sum / WINDOW_S
            base = measured if self.rate is None else min(self.rate, max(measured, MIN_RATE))
            self.rate = max(MIN_RATE, base * DECREASE)
            self._last_decrease = self._grown_at = now
            self._next = max(self._next, now)
