"""Shared test helpers: inventories from inline YAML, the corpus location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from netpol_fix.engine.network import Network
from netpol_fix.inventory.build import Inventory, build_inventory
from netpol_fix.model.objects import Location, SourceObject

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("NETPOL_FIX_CORPUS", REPO.parent / "shared" / "corpus"))


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
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    return CORPUS
