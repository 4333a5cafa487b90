"""Byte-for-byte golden outputs; regenerate with scripts/regen-golden-yamledit.py."""

import json
from pathlib import Path

import jsonpatch
import pytest
import yaml

from tests.yamledit.golden_cases import case_dirs, expected_path, input_path, run_case


@pytest.mark.parametrize("case", case_dirs(), ids=lambda p: p.name)
def test_golden_output_is_byte_identical(case: Path) -> None:
    assert run_case(case) == expected_path(case).read_bytes()


@pytest.mark.parametrize("case", case_dirs(), ids=lambda p: p.name)
def test_golden_expected_is_the_patched_data(case: Path) -> None:
    """The golden file itself must read back as jsonpatch's answer (libyaml reader, which
    like Kubernetes' go-yaml accepts a tab before a comment)."""
    spec = json.loads((case / "operations.json").read_text())
    before = list(yaml.load_all(input_path(case).read_text(encoding="utf-8-sig"), yaml.CSafeLoader))
    after = list(yaml.load_all(expected_path(case).read_text(encoding="utf-8-sig"), yaml.CSafeLoader))
    ops = [{**op, "path": spec.get("base_path", "") + op["path"]} for op in spec["operations"]]
    n = spec["document"]
    assert after[n] == jsonpatch.apply_patch(before[n], ops)
    assert after[:n] + after[n + 1:] == before[:n] + before[n + 1:]
