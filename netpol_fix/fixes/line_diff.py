"""A unified diff of two texts, aligned document by document first.

difflib aligns lines with longest matching blocks, which on a manifest file is slow: its
lines repeat (`- podSelector:`, `matchLabels:`) and a file of a few hundred policies is a
thousand lines, so `fix --dry-run` on a repository that needs thousands of edits spent a
tenth of its time in difflib. A fix edits documents or adds documents, never moves text
across them; so the texts are first aligned as sequences of YAML documents (split at
`---` lines; unchanged documents are equal strings, matched at once), and only the
documents that differ are aligned line by line. Any alignment gives a correct diff (it
turns the old text into the new one); this one is as readable as difflib's, because it is
difflib's inside each changed stretch.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from typing import Literal

Opcode = tuple[Literal["replace", "delete", "insert", "equal"], int, int, int, int]


def unified_lines(old: Sequence[str], new: Sequence[str], fromfile: str, tofile: str,
                  context: int = 3) -> Iterator[str]:
    """The lines of `difflib.unified_diff(old, new, fromfile, tofile, n=context)` in its
    format (`---`/`+++` headers, `@@ -a,b +c,d @@` hunks), from the document-wise
    alignment. `old` and `new` are lines with their line ends."""
    matcher = _Aligned(old, new)
    started = False
    for group in matcher.get_grouped_opcodes(context):
        if not started:
            started = True
            yield f"--- {fromfile}\n"
            yield f"+++ {tofile}\n"
        first, last = group[0], group[-1]
        yield (f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                yield from (" " + line for line in old[i1:i2])
                continue
            if tag in ("replace", "delete"):
                yield from ("-" + line for line in old[i1:i2])
            if tag in ("replace", "insert"):
                yield from ("+" + line for line in new[j1:j2])


def _range(start: int, stop: int) -> str:
    """A hunk's range as unified diff writes it (difflib's _format_range_unified)."""
    beginning = start + 1
    length = stop - start
    if length == 1:
        return str(beginning)
    if not length:
        beginning -= 1  # an empty range begins before its position
    return f"{beginning},{length}"


class _Aligned(difflib.SequenceMatcher[str]):
    """A SequenceMatcher whose opcodes come from the document-wise alignment; its
    get_grouped_opcodes (difflib's) cuts them into hunks with context."""

    def __init__(self, old: Sequence[str], new: Sequence[str]) -> None:
        # empty sequences: the opcodes are computed below, so the matcher's own index of
        # the new lines (built for every line by set_seqs) would be wasted work
        super().__init__(None, (), (), autojunk=False)
        self._opcodes = _opcodes(old, new)

    def get_opcodes(self) -> list[Opcode]:
        return self._opcodes


def _documents(lines: Sequence[str]) -> list[tuple[int, int]]:
    """(first, stop) line ranges: a new range starts at each `---` line."""
    # (startswith first: one method call per line, the marker test only for candidates)
    starts = [0] + [i for i, line in enumerate(lines)
                    if line.startswith("---") and i and _is_marker(line)]
    return [(start, stop) for start, stop in zip(starts, [*starts[1:], len(lines)])
            if stop > start]


def _is_marker(line: str) -> bool:
    return line.startswith("---") and (len(line) == 3 or line[3] in " \t\r\n")


def _opcodes(old: Sequence[str], new: Sequence[str]) -> list[Opcode]:
    """Document-level opcodes, refined to line level inside each stretch that differs;
    adjacent opcodes of one kind are merged, as difflib's own never repeat a tag."""
    old_docs, new_docs = _documents(old), _documents(new)
    old_texts = ["".join(old[a:b]) for a, b in old_docs]
    new_texts = ["".join(new[a:b]) for a, b in new_docs]
    outer = difflib.SequenceMatcher(None, old_texts, new_texts, autojunk=False)
    codes: list[Opcode] = []
    for tag, i1, i2, j1, j2 in outer.get_opcodes():
        a1 = old_docs[i1][0] if i1 < len(old_docs) else len(old)
        a2 = old_docs[i2 - 1][1] if i2 > i1 else a1
        b1 = new_docs[j1][0] if j1 < len(new_docs) else len(new)
        b2 = new_docs[j2 - 1][1] if j2 > j1 else b1
        if tag == "equal":
            _push(codes, ("equal", a1, a2, b1, b2))
            continue
        inner = difflib.SequenceMatcher(None, old[a1:a2], new[b1:b2], autojunk=False)
        for itag, k1, k2, m1, m2 in inner.get_opcodes():
            _push(codes, (itag, a1 + k1, a1 + k2, b1 + m1, b1 + m2))
    return codes or [("equal", 0, 0, 0, 0)]


def _push(codes: list[Opcode], code: Opcode) -> None:
    if code[1] == code[2] and code[3] == code[4]:
        return
    if codes and codes[-1][0] == code[0]:
        last = codes[-1]
        codes[-1] = (last[0], last[1], code[2], last[3], code[4])
        return
    codes.append(code)
