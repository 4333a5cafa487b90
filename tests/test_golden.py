"""Golden cases: `fix --dry-run` diff and `scan --format json` for golden/cases/<case>/input.

Regenerate on purpose with `python scripts/regen-golden.py` and review the git diff; any
difference here is a behaviour change.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted(p for p in (ROOT / "golden" / "cases").iterdir() if p.is_dir())

spec = importlib.util.spec_from_file_location("regen_golden", ROOT / "scripts" / "regen-golden.py")
assert spec and spec.loader
regen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(regen)


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 3


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_case(case: Path) -> None:
    for name, text in regen.outputs(case).items():
        expected = (case / name).read_bytes().decode()
        assert text == expected, f"{case.name}/{name} differs; see scripts/regen-golden.py"
