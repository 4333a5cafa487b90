"""Pausing Python's cyclic garbage collector while a large input is read, built or analysed.

Reading, building the inventory and running the rules allocate millions of objects that
either live until the process ends or are freed by reference counting as soon as they are
dropped; none of that makes cycles worth collecting. The collector is triggered by
allocations, though, and each collection walks the young objects again: pausing it made
reading about 40% faster, building the inventory of the 5,000-workload broken bench tree
0.50 -> 0.38 s and its rules 1.43 -> 1.26 s. It is enabled again afterwards (if it was),
so cycles made elsewhere are still collected.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic collector disabled; restore its state after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
