"""A YAML text cut into its documents' texts, and what each document gave when read, so an
edited text read again parses only the documents the edit changed (`fix`, texts.py).

Why this is exact: in a stream without directives (`%`) and document end markers (`...`),
every line that starts with `---` and a space or line break begins a document, and only
there; the text before the first one holds one document or none (comments). A block
scalar's content is indented, a quoted or flow scalar cannot hold such a line (libyaml
stops with "unexpected document separator"), so when the stream reads without a syntax
error the cut is the documents' own. A document's data depends on its text alone (anchors,
tags and the constructor's state are per document), so a piece of text read before gives
the same objects, errors and skipped documents again; only its document index and its
lines move, by the same amount for everything in it. Anything else (directives, `...`,
line breaks other than LF, a byte-order mark, JSON) is not cut: the whole text is read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from netpol_fix.inventory.kinds import LoadResult
from netpol_fix.model.objects import InputError, Location, SourceObject

_SEPARATOR = re.compile(r"\n---(?=[ \t\n]|\Z)")
"""A line that is `---` alone or before a space (`\n` first: eight times faster than `^`
with MULTILINE; the text's own start is always a piece's start)."""

_NOT_CUT = ("\n%", "\n...", "\r", "\x85", "\u2028", "\u2029", "\ufeff")
"""Directives and document end markers change where documents begin (and a directive
applies to the document after it); YAML counts CR, NEL, LS and PS as line breaks too.
(Substring tests: a regular expression over every text costs a tenth of the reread.)"""


@dataclass(frozen=True)
class Cut:
    """One document's text: from a `---` line (or the text's start) to the next one."""

    start: int
    """Offset of the piece in its text."""
    end: int
    line: int
    """0-based line of `start`."""


def cut(text: str) -> list[Cut] | None:
    """The document pieces of `text` (the first one, before any `---`, may be empty or
    only comments), or None when the text cannot be cut safely."""
    if text.startswith(("%", "...")) or any(mark in text for mark in _NOT_CUT):
        return None
    starts = [0] + [m.start() + 1 for m in _SEPARATOR.finditer(text)]
    pieces: list[Cut] = []
    line = 0
    for position, start in enumerate(starts):
        if position:
            line += text.count("\n", starts[position - 1], start)
        end = starts[position + 1] if position + 1 < len(starts) else len(text)
        pieces.append(Cut(start, end, line))
    return pieces


@dataclass
class Piece:
    """What one piece of text gave when it was read: everything in it carries `document`
    (None: the piece held no document) and lines counted from `line`."""

    document: int | None
    line: int
    objects: list[SourceObject] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)

    def place(self, document: int, line: int, result: LoadResult, name: str) -> None:
        """Add what the piece gave to `result` as read at document `document`, 0-based
        line `line` (where the same text now stands)."""
        if self.document is None:
            return
        shift, lines = document - self.document, line - self.line
        if not shift and not lines:
            result.objects += self.objects
            result.errors += self.errors
            if self.skipped:
                result.skipped.setdefault(name, []).extend(self.skipped)
            return
        for source in self.objects:
            loc = source.location
            assert loc is not None
            result.objects.append(SourceObject(
                source.obj, Location(loc.file, loc.document + shift, loc.line + lines),
                source.item_index, source.spec_defaulted))
        for error in self.errors:
            assert error.document is not None
            result.errors.append(InputError(
                error.file, error.document + shift,
                None if error.line is None else error.line + lines,
                error.message, error.severity))
        if self.skipped:
            result.skipped.setdefault(name, []).extend(i + shift for i in self.skipped)


def pieces_of(text: str, cuts: Sequence[Cut], documents: int,
              objects: Sequence[SourceObject], errors: Sequence[InputError],
              skipped: Sequence[int]) -> dict[str, Piece] | None:
    """Each piece's text and what it gave, from what the whole text gave when it was read
    without a syntax error (`documents`: how many it held; errors without a document, the
    text's tab warning, belong to no piece). None if the pieces and the documents do not
    match one to one."""
    if documents == len(cuts):
        first = 0
    elif documents == len(cuts) - 1:
        first = 1  # the text before the first `---` held no document
    else:
        return None
    pieces = [Piece(None if position < first else position - first, c.line)
              for position, c in enumerate(cuts)]

    def piece(document: int | None) -> Piece | None:
        if document is None or not 0 <= document + first < len(pieces):
            return None
        return pieces[document + first]

    for source in objects:
        found = piece(source.location.document if source.location else None)
        if found is None:
            return None
        found.objects.append(source)
    for error in errors:
        if error.document is None:
            continue
        found = piece(error.document)
        if found is None:
            return None
        found.errors.append(error)
    for index in skipped:
        found = piece(index)
        if found is None:
            return None
        found.skipped.append(index)
    by_text: dict[str, Piece] = {}
    for c, p in zip(cuts, pieces, strict=True):
        by_text.setdefault(text[c.start:c.end], p)
    return by_text
