"""The cyclic collector is paused while reading, building and analysing, and its state is
restored after (inventory/collector.py), also when the block raises."""

from __future__ import annotations

import gc
from collections.abc import Iterable

import pytest

from netpol_fix.config import Settings
from netpol_fix.inventory.build import InventoryBuilder
from netpol_fix.inventory.collector import collector_paused
from netpol_fix.model.findings import Finding
from netpol_fix.rules.base import Rule
from netpol_fix.rules.context import Context
from netpol_fix.rules.registry import run_rules


def test_paused_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_rules_run_with_the_collector_paused() -> None:
    seen: list[bool] = []

    class Probe(Rule):
        id = "probe"

        def check(self, ctx: Context) -> Iterable[Finding]:
            seen.append(gc.isenabled())
            return []

    inventory = InventoryBuilder().add_all([])
    assert run_rules(Context(inventory, Settings()), [Probe()]) == []
    assert seen == [False]
    assert gc.isenabled()


def test_the_program_freezes_what_a_phase_leaves_alive(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """With freeze_survivors (the program's choice), the objects a paused phase kept go to
    the permanent generation before the collector runs again; without it nothing is
    frozen (library callers, tests)."""
    from netpol_fix.inventory import collector

    monkeypatch.setattr(collector, "_freeze_survivors", [])
    before = gc.get_freeze_count()
    with collector_paused():
        kept = [{"n": i} for i in range(1000)]
    assert gc.get_freeze_count() == before
    collector.freeze_survivors()
    try:
        with collector_paused():
            kept += [{"n": i} for i in range(1000)]
        assert gc.get_freeze_count() >= before + 1000
        assert gc.isenabled()
    finally:
        gc.unfreeze()
    assert len(kept) == 2000


def test_run_asks_for_frozen_survivors(monkeypatch: pytest.MonkeyPatch) -> None:
    """cli.group.run (the console scripts' entry) turns it on before the command runs."""
    from netpol_fix.cli import group
    from netpol_fix.inventory import collector

    monkeypatch.setattr(collector, "_freeze_survivors", [])
    seen: list[bool] = []

    class Exited(Exception):
        pass

    def fake_exit(code: int) -> None:
        raise Exited(code)

    monkeypatch.setattr(group, "main", lambda args: seen.append(bool(
        collector._freeze_survivors)))
    monkeypatch.setattr(group.os, "_exit", fake_exit)
    with pytest.raises(Exited):
        group.run([])
    assert seen == [True]
