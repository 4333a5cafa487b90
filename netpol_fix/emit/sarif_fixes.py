"""SARIF `fixes`: each finding's file edit as artifact changes, for code-scanning viewers.

The edit is the one `fix` would make for that finding alone (the same plan and the same
byte-faithful editor), expressed as replacements of whole lines: each changed block is a
deleted region (lines and columns, and the same region as character offsets) and the text
that takes its place. A new document inserted after another is a replacement with an empty
region at the start of the line it goes before.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any

from netpol_fix.fixes.files import FileResult, apply_plan
from netpol_fix.fixes.plan import build_plan
from netpol_fix.model.findings import Finding


def sarif_fix(finding: Finding, read: Callable[[str], str]) -> dict[str, Any] | None:
    """The SARIF fix object for the finding's fix, or None (no fix, a fix for objects
    read from a cluster or stdin, or one the editor cannot apply)."""
    fix = finding.fix
    if fix is None:
        return None
    plan = build_plan([finding], unsafe=True)
    if not plan.applied:
        return None
    texts: dict[str, str] = {}
    for file in plan.files:
        try:
            texts[file] = read(file)
        except OSError:
            return None
    results = apply_plan(plan, texts)
    if any(r.new is None for r in results):
        return None
    changes = [artifact_change(r) for r in results if r.changed]
    if not changes:
        return None
    opens = f"; opens {len(fix.opens)} flow(s)" if fix.opens else ""
    if fix.pairs > fix.listed_pairs:
        opens = f"; opens {fix.pairs} workload pair(s) ({len(fix.opens)} flows of the first " \
                f"{fix.listed_pairs} listed)"
    return {"description": {"text": f"({fix.applicability}) {fix.description}{opens}"},
            "artifactChanges": changes}


def artifact_change(result: FileResult) -> dict[str, Any]:
    """One file's edit as SARIF replacements (old text -> new text)."""
    assert result.new is not None
    return {"artifactLocation": {"uri": result.file},
            "replacements": replacements(result.old, result.new)}


def replacements(old: str, new: str) -> list[dict[str, Any]]:
    """The changed line blocks of `old` -> `new`, first to last; applying them to `old`
    (by character offsets, or by lines and columns) gives `new`."""
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    starts = [0, *accumulate(len(line) for line in old_lines)]
    # the lines both texts begin and end with are not compared (a fix changes a few lines
    # of a file of thousands; the matcher is quadratic in what it compares)
    head = 0
    while head < min(len(old_lines), len(new_lines)) and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    while tail < min(len(old_lines), len(new_lines)) - head and \
            old_lines[-1 - tail] == new_lines[-1 - tail]:
        tail += 1
    matcher = difflib.SequenceMatcher(None, old_lines[head:len(old_lines) - tail],
                                      new_lines[head:len(new_lines) - tail], autojunk=False)
    out = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        i1, i2, j1, j2 = i1 + head, i2 + head, j1 + head, j2 + head
        region = {**_position(old_lines, i1, "start"), **_position(old_lines, i2, "end"),
                  "charOffset": starts[i1], "charLength": starts[i2] - starts[i1]}
        out.append({"deletedRegion": region,
                    "insertedContent": {"text": "".join(new_lines[j1:j2])}})
    return out


def _position(lines: Sequence[str], index: int, which: str) -> dict[str, int]:
    """Where line `index` (0-based) begins, as 1-based line and column; past the last line:
    the line after a final newline, else the end of the last line."""
    if index < len(lines) or not lines or lines[-1].endswith(("\n", "\r")):
        return {f"{which}Line": index + 1, f"{which}Column": 1}
    last = lines[-1]
    return {f"{which}Line": len(lines), f"{which}Column": len(last) + 1}
