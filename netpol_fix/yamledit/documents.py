"""Split a YAML stream into per-document character ranges by finding marker lines.

Why a marker scan and not the parser: editing one document of a multi-megabyte stream
must not pay for parsing every other document. ``---`` and ``...`` at column 0 always
end the current document in YAML, so the scan finds the same documents as
``yaml.safe_load_all`` (cross-checked against the parser for files small enough to
parse whole, see ``__init__``). Only the text between markers is looked at line by line,
and only to tell whether it holds content (an implicit document) or just comments.
"""

import re
from dataclasses import dataclass

_MARKER = re.compile(r"^(---|\.\.\.)(?=[ \t\r\n]|$)", re.MULTILINE)
_CONTENT = re.compile(r"^[ \t]*[^\s#%]", re.MULTILINE)  # a line that is not blank/comment


@dataclass(frozen=True)
class DocumentSpan:
    """Character range ``[start, end)`` of one document in the stream.

    ``start`` includes comments and directives that precede the document's content or
    ``---``; ``end`` is the start of the next document's first line (or after ``...``).
    """

    start: int
    end: int


def _line_after(text: str, pos: int) -> int:
    nl = text.find("\n", pos)
    return len(text) if nl == -1 else nl + 1


def split_documents(text: str) -> list[DocumentSpan]:
    """Return the documents of ``text`` in stream order, empty documents included."""
    spans: list[DocumentSpan] = []
    open_start: int | None = None  # start of the document being read
    region_start = 0  # where leading comments/directives of the next document begin
    after_end_marker = False
    pos = 0
    for match in _MARKER.finditer(text):
        at = match.start()
        if open_start is None and not after_end_marker and _CONTENT.search(text, pos, at):
            open_start = region_start  # an implicit document before this marker
        if match.group(1) == "---":
            if open_start is not None:
                spans.append(DocumentSpan(open_start, at))
                region_start = at
            open_start = region_start
            after_end_marker = False
            pos = at + 3
        else:
            nxt = _line_after(text, at)
            if open_start is not None:
                spans.append(DocumentSpan(open_start, nxt))
                open_start = None
            region_start = pos = nxt
            after_end_marker = True
    if open_start is None and not after_end_marker and _CONTENT.search(text, pos):
        open_start = region_start
    if open_start is not None:
        spans.append(DocumentSpan(open_start, len(text)))
    return spans
