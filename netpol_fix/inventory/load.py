"""Read SOURCES into one Inventory: the loader and the builder, with errors gathered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TextIO

from netpol_fix.inventory.build import Inventory, InventoryBuilder
from netpol_fix.inventory.sources import load_sources, locate_line


def load_inventory(sources: Sequence[str], stdin: TextIO | None = None,
                   overrides: Mapping[str, str] | None = None) -> Inventory:
    """Read SOURCES and build the Inventory; input errors are collected, never raised.
    (`overrides`: texts to read instead of some files, see load_sources.)"""
    loaded = load_sources(sources, stdin, overrides)
    builder = InventoryBuilder(locate=locate_line)
    inventory = builder.add_all(loaded.objects)
    inventory.errors[:0] = loaded.errors
    return inventory
