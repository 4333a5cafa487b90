"""Retrying API calls that the Kubernetes client will not retry itself.

The client never retries PATCH or POST (urllib3's default allowed methods exclude them, and
the client's own retries cover GET/HEAD only), yet an API server under load answers 429 or
503 with `Retry-After`, and a restarting one 500/502/504. Retrying a guarded write is safe:
every patch netpol-fix sends starts with a `test` of the resourceVersion it was planned on,
so an attempt whose response was lost but which did apply makes the retry fail that test,
and the re-read then shows the fix as already applied.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from kubernetes.client.exceptions import ApiException

T = TypeVar("T")

THROTTLED = frozenset({429, 503})
"""The server asks us to come back later, usually saying when (Retry-After)."""
TRANSIENT = frozenset({500, 502, 504})
"""The server or a proxy in front of it failed; backing off usually helps."""


@dataclass
class RetryPolicy:
    """Bounded retries: at most `attempts` calls, no single wait above `max_delay` seconds.

    `sleep` and `jitter` are injectable so tests run instantly and deterministically.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = field(default=random.random)

    def delay(self, status: int, headers: Mapping[str, str] | None, attempt: int) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 1)."""
        if status in THROTTLED:
            after = retry_after(headers)
            if after is not None:
                return min(after, self.max_delay)
        backoff = min(self.base_delay * 2 ** (attempt - 1), self.max_delay)
        # "Full jitter" on the upper half: concurrent clients do not retry in lockstep.
        return backoff / 2 + backoff / 2 * self.jitter()

    def call(self, func: Callable[[], T]) -> T:
        """Call `func`, retrying on throttling and transient server errors; other errors
        and the last failure propagate unchanged."""
        for attempt in range(1, self.attempts + 1):
            try:
                return func()
            except ApiException as err:
                status = err.status or 0
                if status not in THROTTLED | TRANSIENT or attempt == self.attempts:
                    raise
                self.sleep(self.delay(status, err.headers, attempt))
        raise AssertionError("unreachable: the loop returns or raises")


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """The Retry-After header in seconds; None when absent or not a number of seconds
    (the API server only sends seconds; an HTTP date falls back to backoff)."""
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return max(seconds, 0.0)
    return None
