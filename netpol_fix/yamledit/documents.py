"""Split a YAML stream into per-document character ranges by scanning marker lines.

Why a line scan and not the parser: editing one document of a multi-megabyte stream must
not pay for parsing every other document. ``---`` and ``...`` at column 0 always end the
current document in YAML, so the scan finds the same documents as ``yaml.safe_load_all``
(checked against the parser for files small enough to parse whole, see ``__init__``).
"""

from dataclasses import dataclass

from netpol_fix.yamledit.lines import line_kind, next_line_start


@dataclass(frozen=True)
class DocumentSpan:
    """Character range ``[start, end)`` of one document in the stream.

    ``start`` includes comments and directives that precede the document's content or
    ``---``; ``end`` is the start of the next document's first line (or after ``...``).
    """

    start: int
    end: int


def split_documents(text: str) -> list[DocumentSpan]:
    """Return the documents of ``text`` in stream order, empty documents included."""
    spans: list[DocumentSpan] = []
    open_start: int | None = None  # start of the document being read
    region_start = 0  # where leading comments/directives of the next document begin
    after_end_marker = False
    pos = 0
    n = len(text)
    while pos < n:
        kind = line_kind(text, pos)
        nxt = next_line_start(text, pos)
        if kind == "marker" and text.startswith("---", pos):
            if open_start is not None:
                spans.append(DocumentSpan(open_start, pos))
                region_start = pos
            open_start = region_start
            after_end_marker = False
        elif kind == "marker":  # "..."
            if open_start is not None:
                spans.append(DocumentSpan(open_start, nxt))
                open_start = None
            region_start = nxt
            after_end_marker = True
        elif kind == "content" and open_start is None:
            if text.startswith("%", pos):
                pass  # a directive: it belongs to the next "---" document
            elif not after_end_marker:
                open_start = region_start
        pos = nxt
    if open_start is not None:
        spans.append(DocumentSpan(open_start, n))
    return spans
