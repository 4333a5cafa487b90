"""Shared test helpers: inventories from inline YAML, the corpus fixture (tests/corpus_path.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from netpol_fix.engine.network import Network
from netpol_fix.inventory.build import Inventory, build_inventory
from netpol_fix.model.objects import Location, SourceObject
from tests.corpus_path import corpus_path

REPO = Path(__file__).resolve().parent.parent


def inventory_from_yaml(text: str, file: str = "test.yaml") -> Inventory:
    objects = []
    for i, doc in enumerate(yaml.safe_load_all(text)):
        if isinstance(doc, dict):
            objects.append(SourceObject(doc, Location(file, i, 1)))
    return build_inventory(objects)


def network_from_yaml(text: str, **kwargs: object) -> Network:
    return Network(inventory_from_yaml(text), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def corpus() -> Path:
    """The corpus root; fails (never skips) when it is missing."""
    return corpus_path()
