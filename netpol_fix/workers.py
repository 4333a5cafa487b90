"""Independent jobs on two cores: a forked child runs a contiguous run of them while this
process runs the others, and the child's results come back in order.

Why: reading a large repository and editing its files are each a list of independent
jobs (one file each), and most machines that run `netpol-fix` in CI have a second core
the tool would otherwise leave idle. Forking shares everything already in memory with the
child at no cost; its answers come back pickled through a pipe.

The results are exactly those of running the jobs in order here: the caller's `merge`
sees them in the jobs' order, and state the jobs record on the side (digests, caches) is
sent back by `export` and taken in by `adopt`. A child that fails in any way (it cannot
be forked, it dies, its answer does not arrive whole) costs nothing but time: this
process runs those jobs itself.

When not: below the caller's size threshold (forking and sending the results back cost
more than they save), on one core, when the other cores are busy (the kernel's count of
runnable tasks; measured: 1.05 s of reading became 1.4 s with both cores taken), where
`os.fork` does not exist, or with NETPOL_FIX_WORKERS=1.

May import nothing of netpol_fix: it runs jobs and knows nothing of what they do.
"""

from __future__ import annotations

import os
import pickle
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

WORKERS_VARIABLE = "NETPOL_FIX_WORKERS"
"""Set to 1 to run every job in this process."""

Result = TypeVar("Result")


@dataclass
class Job(Generic[Result]):
    """One independent piece of work and its size (what it costs, roughly: bytes)."""

    size: int
    run: Callable[[], Result]
    movable: bool = True
    """False for a job that must run in this process (it reads stdin, say)."""


def run_in_order(jobs: Sequence[Job[Result]], merge: Callable[[Result], None], *,
                 min_total: int, share: float = 0.45,
                 export: Callable[[], Any] | None = None,
                 adopt: Callable[[Any], None] | None = None) -> None:
    """Run every job and hand its result to `merge`, in the jobs' order; a run of movable
    jobs holding about `share` of the total size goes to a child when the total is at
    least `min_total` and a core is free. `export` (called in the child after its jobs)
    gives the side state its jobs recorded, which `adopt` takes in here."""
    span = _child_span(jobs, min_total, share)
    if span is None:
        for job in jobs:
            merge(job.run())
        return
    start, end = span
    child = _fork(jobs[start:end], export)
    try:
        for job in jobs[:start]:
            merge(job.run())
    finally:  # the child is always waited for
        answer = _answer(child) if child is not None else None
    if answer is None:
        for job in jobs[start:end]:
            merge(job.run())
    else:
        results, state = answer
        if adopt is not None:
            adopt(state)
        for result in results:
            merge(result)
    for job in jobs[end:]:
        merge(job.run())


def _child_span(jobs: Sequence[Job[Any]], min_total: int, share: float
                ) -> tuple[int, int] | None:
    """The jobs the child runs, [start, end): movable ones holding about `share` of the
    total, as late in the list as they can be (this process starts on the head at once),
    or None to run everything here."""
    if os.environ.get(WORKERS_VARIABLE, "").strip() == "1" or not hasattr(os, "fork"):
        return None
    total = sum(job.size for job in jobs)
    if total < min_total or len(jobs) < 2 or not _idle_core():
        return None
    end = len(jobs)
    while end > 0 and not jobs[end - 1].movable:
        end -= 1
    start, taken = end, 0
    while start > 1 and jobs[start - 1].movable and taken + jobs[start - 1].size <= \
            total * share:
        start -= 1
        taken += jobs[start].size
    return (start, end) if taken else None


def _idle_core() -> bool:
    """Whether a second core is free now: two or more cores, and no more runnable tasks
    than this process leaves a core for. On Linux that is the kernel's count of runnable
    tasks at this instant (/proc/loadavg, this process included); elsewhere the load
    average of the last minute, which counts this process's recent work too. A child on a
    core another job already uses only competes with this process (measured on 2 cores
    with one other job running: `scan` 3.04 s in one process, 3.3 s with a child)."""
    cores = _cores()
    if cores < 2:
        return False
    running = _runnable()
    if running is not None:
        return running <= cores - 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return True
    return load <= cores - 1.5


def _runnable() -> int | None:
    """Tasks runnable right now, this one included (the 4th field of /proc/loadavg,
    `running/total`), or None where the kernel does not say."""
    try:
        with open("/proc/loadavg", encoding="ascii") as handle:
            return int(handle.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass
class _Child:
    pid: int
    fd: int


def _fork(jobs: Sequence[Job[Any]], export: Callable[[], Any] | None) -> _Child | None:
    """Fork a child that runs `jobs` and writes back (their results, `export()`),
    length-prefixed on a pipe."""
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid:
        os.close(write_end)
        return _Child(pid, read_end)
    # the child: whatever happens, it leaves with os._exit (never unwinds into the caller)
    status = 1
    try:
        os.close(read_end)
        results = [job.run() for job in jobs]
        payload = pickle.dumps((results, export() if export is not None else None),
                               protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_end, "wb") as out:
            out.write(struct.pack("<Q", len(payload)))
            out.write(payload)
        status = 0
    finally:
        os._exit(status)


def _answer(child: _Child) -> tuple[list[Any], Any] | None:
    """The child's results and state, or None when they did not arrive whole (the child
    is waited for either way)."""
    payload, size = b"", -1
    try:
        with os.fdopen(child.fd, "rb") as pipe:
            head = pipe.read(8)
            if len(head) == 8:
                size = struct.unpack("<Q", head)[0]
                payload = pipe.read(size)
    except OSError:
        size = -1
    finally:
        try:
            _pid, status = os.waitpid(child.pid, 0)
        except OSError:
            status = -1
    if status != 0 or size < 0 or len(payload) != size:
        return None
    try:
        results, state = pickle.loads(payload)  # our own child's bytes
    except Exception:  # noqa: BLE001 - a bad answer is no answer: the jobs run here
        return None
    return results, state
