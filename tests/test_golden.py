"""Golden cases: `fix --dry-run` diff and `scan --format json` for golden/cases/<case>/input.

Regenerate on purpose with `python scripts/regen-golden.py` and review the git diff; any
difference here is a behaviour change.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

spec = importlib.util.spec_from_file_location("regen_golden", ROOT / "scripts" / "regen-golden.py")
assert spec and spec.loader
regen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(regen)
CASES = regen.cases()


def test_every_rule_has_a_positive_and_a_negative_case() -> None:
    from netpol_fix.rules.registry import RULES

    for rule in RULES:
        kinds = {(c / "expect").read_text().strip() for c in CASES
                 if c.parent.name == rule and (c / "expect").exists()}
        assert kinds == {"positive", "negative"}, rule


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_golden_case(case: Path) -> None:
    outputs = regen.outputs(case)
    for name, text in outputs.items():
        expected = (case / name).read_bytes().decode()
        assert text == expected, f"{case.name}/{name} differs; see scripts/regen-golden.py"
    expect = case / "expect"
    if expect.exists():
        rules = {f["rule"] for f in json.loads(outputs["expected-scan.json"])["findings"]}
        positive = expect.read_text().strip() == "positive"
        assert (case.parent.name in rules) == positive, rules
