"""SOURCES and a live cluster read together into one Inventory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TextIO

from netpol_fix.cluster.read import ClusterRead, merge_objects
from netpol_fix.inventory.build import Inventory, InventoryBuilder
from netpol_fix.inventory.sources import (
    NO_SELECTION,
    LoadResult,
    Selection,
    load_sources,
    locate_line,
)


def load_with_cluster(sources: Sequence[str], cluster: ClusterRead,
                      stdin: TextIO | None = None,
                      overrides: Mapping[str, str] | None = None,
                      selection: Selection = NO_SELECTION
                      ) -> tuple[Inventory, list[str]]:
    """SOURCES and a cluster read together, and the notes to show (what was read, which
    cluster objects the files replace). Files are the desired state, so where both hold an
    object the file's copy is analysed (and a fix edits the file)."""
    loaded = load_sources(sources, stdin, overrides, selection) if sources else LoadResult()
    objects, notes = merge_objects(loaded.objects, cluster.objects)
    inventory = InventoryBuilder(locate=locate_line).add_all(objects)
    inventory.errors[:0] = loaded.errors + cluster.errors
    inventory.skipped_files = loaded.skipped_files()
    inventory.objects_read = len(objects)
    return inventory, cluster.notes + loaded.notes + notes
