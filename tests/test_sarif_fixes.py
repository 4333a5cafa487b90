"""SARIF fixes: replacements that turn the file into what `fix` writes for the finding."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.emit.sarif_fixes import replacements

REPO = Path(__file__).resolve().parent.parent


def by_offsets(old: str, changes: list[dict[str, Any]]) -> str:
    out, at = [], 0
    for change in changes:
        region = change["deletedRegion"]
        out.append(old[at:region["charOffset"]])
        out.append(change["insertedContent"]["text"])
        at = region["charOffset"] + region["charLength"]
    return "".join(out) + old[at:]


def offset_of(text: str, line: int, column: int) -> int:
    """Character offset of a 1-based line and column (one past the last line allowed)."""
    lines = text.splitlines(keepends=True)
    return sum(len(x) for x in lines[:line - 1]) + column - 1


CASES = {
    "insert in the middle": ("a\nb\nc\n", "a\nb\nx\ny\nc\n"),
    "insert at the start": ("a\nb\n", "z\na\nb\n"),
    "append after a final newline": ("a\nb\n", "a\nb\n---\nc: 1\n"),
    "append without a final newline": ("a\nb", "a\nbc\n---\nd"),
    "replace and delete": ("k: 1\nl: 2\nm: 3\nn: 4\n", "k: 1\nl: 20\nn: 4\n"),
    "crlf": ("a: 1\r\nb: 2\r\n", "a: 1\r\nx: 9\r\nb: 2\r\n"),
    "empty file": ("", "a: 1\n"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_replacements_rebuild_the_new_text(name: str) -> None:
    old, new = CASES[name]
    changes = replacements(old, new)
    assert changes
    assert by_offsets(old, changes) == new
    for change in changes:
        region = change["deletedRegion"]
        start = offset_of(old, region["startLine"], region["startColumn"])
        end = offset_of(old, region["endLine"], region["endColumn"])
        assert (start, end - start) == (region["charOffset"], region["charLength"])


def test_random_line_edits_round_trip() -> None:
    rng = random.Random(4)
    for _ in range(200):
        old_lines = [f"k{rng.randrange(9)}: {rng.randrange(3)}\n" for _ in range(rng.randrange(12))]
        new_lines = [line for line in old_lines if rng.random() > 0.2]
        for _ in range(rng.randrange(4)):
            new_lines.insert(rng.randrange(len(new_lines) + 1), f"n: {rng.randrange(5)}\n")
        old, new = "".join(old_lines), "".join(new_lines)
        assert by_offsets(old, replacements(old, new)) == new


def test_scan_sarif_fixes_equal_what_fix_writes(tmp_path: Path) -> None:
    """Every finding of the example's scan that has a fix: its SARIF replacements applied
    to the files give what `fix --unsafe-fixes --select RULE` writes when that rule has one
    finding; and results without a fix have no `fixes`."""
    import shutil
    shutil.copytree(REPO / "golden/one-sided-allow/ingress-allows-namespace-default-deny-egress"
                    / "input", tmp_path / "in")
    shutil.copytree(REPO / "examples", tmp_path / "ex")
    runner = CliRunner()
    compared = []
    for folder in ("in", "ex"):
        result = runner.invoke(main, ["scan", "--format", "sarif", str(tmp_path / folder)])
        assert result.exit_code == 1, result.output
        results = json.loads(result.output)["runs"][0]["results"]
        with_fix = [r for r in results if r.get("fixes")]
        assert with_fix
        for res in results:
            if res["properties"]["fixApplicability"] == "none":
                assert "fixes" not in res
        singles = {}
        for res in with_fix:
            singles.setdefault(res["ruleId"], []).append(res)
        for rule, found in singles.items():
            if len(found) != 1:
                continue
            [change] = found[0]["fixes"][0]["artifactChanges"]
            path = Path(change["artifactLocation"]["uri"])
            old = path.read_text()
            expected = by_offsets(old, change["replacements"])
            copy = tmp_path / f"copy-{folder}-{rule}"
            shutil.copytree(tmp_path / folder, copy)
            fixed = runner.invoke(main, ["fix", "--unsafe-fixes", "--select", rule, str(copy)])
            assert fixed.exit_code in (0, 1), fixed.output
            assert (copy / path.relative_to(tmp_path / folder)).read_text() == expected, rule
            compared.append(rule)
    assert "one-sided-allow" in compared and len(compared) >= 3, compared
