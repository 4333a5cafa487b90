"""Values echoed to a terminal or a CI log, made inert.

A file name or a value from a manifest can hold a newline followed by `::error file=...::`
(a line GitHub Actions executes as a workflow command), an ANSI escape sequence that
recolours or rewrites the terminal, or a carriage return that hides what came before. Every
text output line built from such values passes them through `inert`, which writes control
characters as visible escapes (`\\n`, `\\x1b`), so one value stays on one line and cannot
start a line of its own. (JSON and SARIF escape control characters themselves.)
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100
                                else f"\\u{ord(char):04x}")


def inert(text: str) -> str:
    """`text` with control characters (tabs aside) written as escapes."""
    return _CONTROL.sub(_escape, text) if _CONTROL.search(text) else text


def inert_markdown(text: str) -> str:
    """For a Markdown table cell or line: control characters escaped, `|` and backticks
    escaped, `<` written as `&lt;` (no HTML from a value reaches the rendered page)."""
    return inert(text).replace("|", "\\|").replace("`", "\\`").replace("<", "&lt;")
