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
