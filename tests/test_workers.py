"""Jobs on two cores (netpol_fix/workers.py): every result reaches `merge` in the jobs'
order whichever process ran the job, jobs that must stay here stay here, the child's side
state is adopted, and a child that fails costs only time."""

from __future__ import annotations

import os
from typing import Any

import pytest

from netpol_fix import workers
from netpol_fix.workers import Job, run_in_order


@pytest.fixture
def idle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "_cores", lambda: 2)
    monkeypatch.setattr(workers, "_runnable", lambda: 1)
    monkeypatch.delenv(workers.WORKERS_VARIABLE, raising=False)


def _where(value: int) -> Job[tuple[int, int]]:
    """A job that says its value and the process that ran it."""
    return Job(10, lambda: (value, os.getpid()))


def test_results_in_order_with_a_run_of_them_in_a_child(idle: None) -> None:
    got: list[tuple[int, int]] = []
    run_in_order([_where(i) for i in range(10)], got.append, min_total=0)
    assert [value for value, _pid in got] == list(range(10))
    pids = [pid for _value, pid in got]
    assert pids[0] == os.getpid()
    assert pids[-1] != os.getpid()  # the tail ran elsewhere
    assert 3 <= sum(pid != os.getpid() for pid in pids) <= 5  # about 45% of the sizes


def test_jobs_that_must_stay_run_here(idle: None) -> None:
    got: list[tuple[int, int]] = []
    jobs = [_where(i) for i in range(6)]
    jobs[-1].movable = False
    jobs[2].movable = False
    run_in_order(jobs, got.append, min_total=0)
    assert [value for value, _pid in got] == list(range(6))
    here = [value for value, pid in got if pid == os.getpid()]
    assert 2 in here and 5 in here
    assert set(range(6)) - set(here)  # the others could still move


def test_the_childs_side_state_is_adopted(idle: None) -> None:
    recorded: dict[int, int] = {}
    adopted: list[Any] = []

    def job(value: int) -> Job[int]:
        def run() -> int:
            recorded[value] = os.getpid()
            return value
        return Job(1, run)

    got: list[int] = []
    run_in_order([job(i) for i in range(8)], got.append, min_total=0,
                 export=lambda: dict(recorded), adopt=adopted.append)
    assert got == list(range(8))
    assert len(adopted) == 1
    assert adopted[0] and all(pid != os.getpid() for pid in adopted[0].values())


def test_a_failing_child_costs_only_time(idle: None, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    parent = os.getpid()

    def job(value: int) -> Job[int]:
        def run() -> int:
            if os.getpid() != parent:
                os._exit(3)  # the child dies without an answer
            return value
        return Job(1, run)

    got: list[int] = []
    run_in_order([job(i) for i in range(8)], got.append, min_total=0)
    assert got == list(range(8))


def test_when_everything_runs_here(idle: None, monkeypatch: pytest.MonkeyPatch) -> None:
    forks: list[int] = []
    monkeypatch.setattr(workers, "_fork", lambda jobs, export: forks.append(1))
    got: list[tuple[int, int]] = []
    run_in_order([_where(i) for i in range(4)], got.append, min_total=1_000)  # too small
    monkeypatch.setattr(workers, "_runnable", lambda: 2)  # another job runs
    run_in_order([_where(i) for i in range(4)], got.append, min_total=0)
    monkeypatch.setattr(workers, "_runnable", lambda: 1)
    monkeypatch.setattr(workers, "_cores", lambda: 1)
    run_in_order([_where(i) for i in range(4)], got.append, min_total=0)
    monkeypatch.setattr(workers, "_cores", lambda: 2)
    monkeypatch.setenv(workers.WORKERS_VARIABLE, "1")
    run_in_order([_where(i) for i in range(4)], got.append, min_total=0)
    assert not forks
    assert all(pid == os.getpid() for _value, pid in got)
    assert [value for value, _pid in got] == list(range(4)) * 4


def test_a_core_is_free_when_nothing_else_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Linux: the runnable tasks at this instant, this process included; elsewhere the
    load average, which counts this process's recent work too."""
    monkeypatch.setattr(workers, "_cores", lambda: 2)
    monkeypatch.setattr(workers, "_runnable", lambda: 1)
    assert workers._idle_core()
    monkeypatch.setattr(workers, "_runnable", lambda: 2)
    assert not workers._idle_core()
    monkeypatch.setattr(workers, "_cores", lambda: 8)
    assert workers._idle_core()
    monkeypatch.setattr(workers, "_cores", lambda: 2)
    monkeypatch.setattr(workers, "_runnable", lambda: None)
    monkeypatch.setattr(workers.os, "getloadavg", lambda: (0.3, 1.0, 1.0))
    assert workers._idle_core()
    monkeypatch.setattr(workers.os, "getloadavg", lambda: (1.2, 1.0, 1.0))
    assert not workers._idle_core()
    monkeypatch.setattr(workers, "_cores", lambda: 1)
    assert not workers._idle_core()


def test_the_kernel_count_includes_this_process() -> None:
    running = workers._runnable()
    if os.path.exists("/proc/loadavg"):
        assert running is not None and running >= 1
    else:
        assert running is None
