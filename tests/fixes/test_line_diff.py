"""fixes/line_diff.py: the document-wise unified diff is a correct diff (applied, it turns
the old text into the new one) and, where difflib needs no junk heuristic, difflib's own."""

from __future__ import annotations

import difflib
import random
import re

from netpol_fix.fixes.line_diff import unified_lines

HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def _apply(old: list[str], diff: list[str]) -> list[str]:
    """Apply a unified diff strictly: every context and removed line must match."""
    out: list[str] = []
    at = 0
    lines = iter(diff[2:])
    pending = next(lines, None)
    while pending is not None:
        match = HUNK.match(pending)
        assert match, pending
        start = int(match.group(1)) - (0 if match.group(2) == "0" else 1)
        out += old[at:start]
        at = start
        pending = next(lines, None)
        while pending is not None and not pending.startswith("@@"):
            kind, text = pending[0], pending[1:]
            if kind in " -":
                assert old[at] == text, (at, old[at], text)
                at += 1
            if kind in " +":
                out.append(text)
            pending = next(lines, None)
    return out + old[at:]


def _document(rng: random.Random, n: int) -> list[str]:
    name = f"policy-{n:04d}"
    return ["---\n", "apiVersion: networking.k8s.io/v1\n", "kind: NetworkPolicy\n",
            "metadata:\n", f"  name: {name}\n", "spec:\n", "  podSelector:\n",
            "    matchLabels:\n", f"      app: {name}\n", "  ingress:\n",
            *[f"  - from:\n    - podSelector:\n        matchLabels: {{app: peer-{rng.randrange(9)}}}\n"
              for _ in range(rng.randrange(3))]]


def _edit(rng: random.Random, docs: list[list[str]]) -> list[list[str]]:
    """What fixes do: append rules inside documents, add documents after others; and,
    for good measure, lines removed or replaced."""
    new = [list(d) for d in docs]
    for doc in rng.sample(new, k=max(1, len(new) // 3)):
        choice = rng.random()
        if choice < 0.5:
            doc.append("  - from:\n    - podSelector: {}\n")
        elif choice < 0.8 and len(doc) > 5:
            del doc[rng.randrange(1, len(doc))]
        else:
            doc[rng.randrange(len(doc))] = "  # changed\n"
    for _ in range(rng.randrange(4)):
        new.insert(rng.randrange(len(new) + 1), _document(rng, 9000 + rng.randrange(999)))
    return new


def _lines(docs: list[list[str]]) -> list[str]:
    return "".join(line for doc in docs for line in doc).splitlines(keepends=True)


def test_applied_the_diff_gives_the_new_text() -> None:
    rng = random.Random(1216)
    for _case in range(150):
        docs = [_document(rng, n) for n in range(rng.randrange(1, 60))]
        old, new = _lines(docs), _lines(_edit(rng, docs))
        diff = list(unified_lines(old, new, "a/f", "b/f"))
        assert _apply(old, diff) == new


def test_one_document_gives_difflibs_diff() -> None:
    """Within one changed stretch the alignment is difflib's (files under 200 lines: no
    junk heuristic on either side)."""
    rng = random.Random(7)
    for _case in range(100):
        docs = [_document(rng, 1)]
        old, new = _lines(docs), _lines(_edit(rng, docs)[:1])
        assert list(unified_lines(old, new, "a/f", "b/f")) == \
            list(difflib.unified_diff(old, new, "a/f", "b/f"))


def test_equal_texts_give_no_diff_and_empty_sides_work() -> None:
    assert list(unified_lines(["a\n"], ["a\n"], "a/f", "b/f")) == []
    assert list(unified_lines([], ["x\n"], "a/f", "b/f")) == \
        list(difflib.unified_diff([], ["x\n"], "a/f", "b/f"))
    assert list(unified_lines(["x\n"], [], "a/f", "b/f")) == \
        list(difflib.unified_diff(["x\n"], [], "a/f", "b/f"))
