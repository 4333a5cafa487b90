"""Detect the layout a document already uses, so new text looks like its neighbours.

Why per document and by majority: real files mix styles (one 1-space ``metadata``
block next to a 2-space ``spec``; indented and flush sequences in one file), and a
fragment should follow what its own document does most often.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from netpol_fix.yamledit.documents import split_documents
from netpol_fix.yamledit.errors import EditError
from netpol_fix.yamledit.lines import column, detect_newline, indent_of_line, line_start
from netpol_fix.yamledit.locate import MAPPING, SCALAR, SEQUENCE, Node, parse_tree, walk

_JSON_PLAIN = {"true", "false", "null"}


@dataclass(frozen=True)
class Style:
    """How to lay out new YAML text.

    ``sequence_offset`` is the dash column relative to the owning key's column
    (0 for "indentless" sequences); ``dash_gap`` is the number of spaces after ``-``.
    """

    mapping_indent: int = 2
    sequence_offset: int = 2
    dash_gap: int = 1
    quote: str = '"'
    newline: str = "\n"
    json: bool = False
    json_indent: int = 2

    def with_(self, **changes: object) -> Style:
        return replace(self, **changes)  # type: ignore[arg-type]


def _most_common(counter: Counter[int], default: int) -> int:
    if not counter:
        return default
    best = max(counter.values())
    for value, count in counter.items():  # first seen wins a tie
        if count == best:
            return value
    return default


def dash_gap_of(text: str, seq: Node) -> int | None:
    """Spaces between ``-`` and item content in a block sequence, from its last such item."""
    dash_col = column(text, seq.start)
    for item in reversed(seq.items):
        ls = line_start(text, item.start)
        dash = ls + dash_col
        if dash < item.start and text[dash] == "-" and text[ls:dash].strip(" ") == "":
            gap = item.start - dash - 1
            if gap >= 1 and text[dash + 1:item.start].strip(" ") == "":
                return gap
    return None


def is_json_document(root: Node | None) -> bool:
    """A document written in JSON syntax: flow root, double-quoted keys, JSON literals."""
    if root is None or not root.is_collection or not root.flow:
        return False
    for node in walk(root):
        if node.kind not in (SCALAR, MAPPING, SEQUENCE):
            return False
        plain_literal = node.style == "" and _looks_like_json_literal(node.value or "")
        if node.kind == SCALAR and node.style != '"' and not plain_literal:
            return False
    return True


def _looks_like_json_literal(value: str) -> bool:
    if value in _JSON_PLAIN:
        return True
    try:
        float(value)
    except ValueError:
        return False
    return True


def detect_style(text: str, roots: list[Node | None]) -> Style:
    """Majority layout across the given document roots parsed from ``text``."""
    mapping_indent: Counter[int] = Counter()
    sequence_offset: Counter[int] = Counter()
    dash_gap: Counter[int] = Counter()
    json_indent: Counter[int] = Counter()
    quotes: Counter[str] = Counter()
    json_doc = bool(roots) and all(is_json_document(r) for r in roots if r is not None)
    for root in roots:
        if root is None:
            continue
        for node in walk(root):
            if node.kind == SCALAR and node.style in ("'", '"'):
                quotes[node.style] += 1
            if node.kind == MAPPING and node.flow and node.pairs:
                first_key = node.pairs[0][0]
                ls = line_start(text, first_key.start)
                if ls > node.start:  # pairs on their own lines: pretty-printed JSON
                    outer = line_start(text, node.start)
                    indent = column(text, first_key.start) - indent_of_line(text, outer)
                    if indent > 0:
                        json_indent[indent] += 1
            if node.kind != MAPPING or node.flow:
                continue
            for key, value in node.pairs:
                key_col = column(text, key.start)
                if value.kind == MAPPING and not value.flow and value.pairs:
                    child = value.pairs[0][0]
                    if text[line_start(text, child.start):child.start].strip(" ") == "":
                        mapping_indent[column(text, child.start) - key_col] += 1
                elif value.kind == SEQUENCE and not value.flow and value.items:
                    sequence_offset[column(text, value.start) - key_col] += 1
                    gap = dash_gap_of(text, value)
                    if gap is not None:
                        dash_gap[gap] += 1
    mi = _most_common(mapping_indent, 2)
    return Style(
        mapping_indent=mi if mi > 0 else 2,
        sequence_offset=max(0, _most_common(sequence_offset, 2)),
        dash_gap=_most_common(dash_gap, 1),
        quote=quotes.most_common(1)[0][0] if quotes else '"',
        newline=detect_newline(text),
        json=json_doc,
        json_indent=_most_common(json_indent, 2),
    )


STYLE_SAMPLE = 16_384
"""Characters of a file read to learn its layout (see style_from_text)."""
STYLE_DOCUMENTS = 12
"""Documents of a file read to learn its layout: a file's layout is one author's (or one
formatter's) habit, so a dozen documents decide the vote as well as fifty, at a quarter
of the parsing (`fix` reads the layout of every file it adds documents to)."""


def style_from_text(text: str) -> Style:
    """Layout of a whole file, for brand-new documents; defaults if it does not parse.

    Each document is detected on its own (positions are per document) and the
    documents then vote; only the first STYLE_DOCUMENTS, or as many as fit in the first
    16 KiB (at least one), are read, which is plenty for a majority.
    """
    body = text.removeprefix("\ufeff")
    newline = detect_newline(body)
    styles: list[Style] = []
    for span in split_documents(body)[:STYLE_DOCUMENTS]:
        if styles and span.end > STYLE_SAMPLE:
            break
        chunk = body[span.start:span.end]
        try:
            tree = parse_tree(chunk)
        except EditError:
            continue
        if tree.root is not None and tree.root.is_collection:
            styles.append(detect_style(chunk, [tree.root]))
        tree.release()
    if not styles:
        return Style(newline=newline)
    return _vote(styles, newline)


def _vote(styles: list[Style], newline: str) -> Style:
    def pick(values: list[int]) -> int:
        return Counter(values).most_common(1)[0][0]

    return Style(
        mapping_indent=pick([s.mapping_indent for s in styles]),
        sequence_offset=pick([s.sequence_offset for s in styles]),
        dash_gap=pick([s.dash_gap for s in styles]),
        quote=Counter(s.quote for s in styles).most_common(1)[0][0],
        newline=newline,
        json=all(s.json for s in styles),
        json_indent=pick([s.json_indent for s in styles]),
    )
