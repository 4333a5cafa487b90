"""Golden cases for the YAML editor: ``golden/yamledit/<case>/``.

Each case holds ``input.yaml`` (or ``input.json``), ``operations.json`` with
``{"document": N, "operations": [...], "base_path": optional}`` and ``expected.yaml``
(or ``expected.json``): the exact bytes ``apply_operations`` must produce.
"""

from __future__ import annotations

import json
from pathlib import Path

from netpol_fix.yamledit import apply_operations

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "yamledit"


def case_dirs() -> list[Path]:
    return sorted(p for p in GOLDEN.iterdir() if (p / "operations.json").is_file())


def input_path(case: Path) -> Path:
    return next(case / name for name in ("input.yaml", "input.json") if (case / name).exists())


def expected_path(case: Path) -> Path:
    return case / ("expected" + input_path(case).suffix)


def run_case(case: Path) -> bytes:
    """The editor's output for one case, as bytes (line endings and BOM included)."""
    text = input_path(case).read_bytes().decode("utf-8")
    spec = json.loads((case / "operations.json").read_text(encoding="utf-8"))
    result = apply_operations(text, spec["document"], spec["operations"],
                              spec.get("base_path", ""))
    return result.encode("utf-8")
