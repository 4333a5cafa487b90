"""Read SOURCES into one Inventory: the loader and the builder, with errors gathered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TextIO

from netpol_fix.inventory.build import Inventory, InventoryBuilder
from netpol_fix.inventory.collector import collector_paused
from netpol_fix.inventory.sources import (
    NO_SELECTION,
    LoadResult,
    Selection,
    load_sources,
    locate_line,
)


def inventory_of(loaded: LoadResult) -> Inventory:
    """The Inventory of what was loaded, with its input errors, notes and the files that
    held no Kubernetes object."""
    with collector_paused():  # (inventory/collector.py)
        inventory = InventoryBuilder(locate=locate_line).add_all(loaded.objects)
    inventory.errors[:0] = loaded.errors
    inventory.notes[:0] = loaded.notes
    inventory.skipped_files = loaded.skipped_files()
    inventory.objects_read = len(loaded.objects)
    return inventory


def load_inventory(sources: Sequence[str], stdin: TextIO | None = None,
                   overrides: Mapping[str, str] | None = None,
                   selection: Selection = NO_SELECTION) -> Inventory:
    """Read SOURCES and build the Inventory; input errors are collected, never raised.
    (`overrides`: texts to read instead of some files, see load_sources; `selection`:
    exclude patterns for the files found in directories.)"""
    return inventory_of(load_sources(sources, stdin, overrides, selection))
