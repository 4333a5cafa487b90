"""Line arithmetic on a str, so splices respect CRLF and missing final newlines."""


def line_start(text: str, pos: int) -> int:
    """Offset of the first character of the line holding ``pos``."""
    return text.rfind("\n", 0, pos) + 1


def line_end(text: str, pos: int) -> int:
    """Offset of the line terminator (``\\r\\n`` or ``\\n``) of the line holding ``pos``.

    Returns ``len(text)`` for a last line without a terminator.
    """
    nl = text.find("\n", pos)
    if nl == -1:
        return len(text)
    if nl > 0 and text[nl - 1] == "\r":
        return nl - 1
    return nl


def next_line_start(text: str, pos: int) -> int:
    """Offset just past the terminator of the line holding ``pos`` (or ``len(text)``)."""
    nl = text.find("\n", pos)
    return len(text) if nl == -1 else nl + 1


def column(text: str, pos: int) -> int:
    """Zero-based column of ``pos`` in characters."""
    return pos - line_start(text, pos)


def indent_of_line(text: str, start: int) -> int:
    """Number of leading spaces of the line starting at ``start``."""
    i = start
    while i < len(text) and text[i] == " ":
        i += 1
    return i - start


def line_kind(text: str, start: int) -> str:
    """Classify the line starting at ``start``: ``blank``, ``comment``, ``marker`` or ``content``."""
    end = line_end(text, start)
    stripped = text[start:end].strip(" \t")
    if not stripped:
        return "blank"
    if stripped.startswith("#"):
        return "comment"
    if (text.startswith("---", start) or text.startswith("...", start)) and (
        start + 3 >= end or text[start + 3] in " \t"
    ):
        return "marker"
    return "content"


def detect_newline(text: str) -> str:
    """The file's line ending: CRLF when most lines use it, else LF."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


def is_first_on_line(text: str, pos: int) -> bool:
    """True when only spaces precede ``pos`` on its line."""
    return text[line_start(text, pos):pos].strip(" ") == ""
