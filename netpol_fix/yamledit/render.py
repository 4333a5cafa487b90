"""Render new values as YAML (or JSON) text fragments in a given Style.

Why our own small emitter: fragments must land at exact columns with the file's own
indentation, dash gap and quote character, and strings must be quoted whenever a YAML 1.1
*or* 1.2 reader could take them for something else (``yes``, ``on``, ``y``, ``0755``,
``08``, ``1e3``, ``~``). A general-purpose dumper gets several of these wrong.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any

import yaml.resolver

from netpol_fix.yamledit.style import Style

_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
# YAML 1.2 core schema and YAML 1.1 forms PyYAML does not resolve (y/n, 1e3, 0o17).
_NON_STRING_12 = re.compile(
    r"""~|null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|n|N
    |[-+]?[0-9][0-9_]*|0o[0-7]+|0x[0-9a-fA-F]+
    |[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?
    |[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)""",
    re.VERBOSE,
)
_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")
_FLOW_CHARS = set(",[]{}")


@functools.lru_cache(maxsize=65_536)
def is_plain_safe(text: str) -> bool:
    """True when ``text`` can be written unquoted and reads back as the same string.

    Checked against both YAML 1.1 (PyYAML's resolver, as Kubernetes reads it) and the
    YAML 1.2 core schema, plus the syntax rules for plain scalars in flow context.
    Memoised (the answer depends on the text alone): fixes write the same keys, labels,
    protocols and ports again and again, and each answer costs a few regular expressions.
    """
    if not text or text != text.strip(" ") or not text.isprintable():
        return False
    if "{{" in text or "}}" in text:
        return False
    first = text[0]
    if first in _INDICATORS and not (first == "-" and len(text) > 1 and text[1] != " "):
        return False
    if ": " in text or " #" in text or text.endswith(":") or _FLOW_CHARS & set(text):
        return False
    if _NON_STRING_12.fullmatch(text):
        return False
    if re.fullmatch(r"[-+.]?[0-9][0-9a-zA-Z_.:+-]*", text):
        return False  # looks numeric in some schema (octal, sexagesimal, version-like)
    return _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR_TAG


def quote(text: str, quote_char: str) -> str:
    """Quote a string with the preferred character; double quotes when escapes are needed."""
    if quote_char == "'" and text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    if text.isprintable():
        return json.dumps(text, ensure_ascii=False)
    return json.dumps(text, ensure_ascii=True)


def render_scalar(value: Any, style: Style, force_quote: bool = False) -> str:
    """Render one scalar value (string, number, boolean or null)."""
    if style.json:
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _render_float(value)
    if isinstance(value, str):
        if force_quote or not is_plain_safe(value):
            return quote(value, style.quote)
        return value
    raise TypeError(f"cannot render {type(value).__name__} as YAML")


def _render_float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"  # YAML 1.1 floats need a dot
    return text


def render_inline(value: Any, style: Style, force_quote: bool = False) -> str:
    """Render a value on one line: a scalar, or a flow (JSON) collection."""
    if isinstance(value, dict):
        if style.json:
            return json.dumps(value, ensure_ascii=False)
        body = ", ".join(
            f"{render_scalar(k, style)}: {render_inline(v, style)}" for k, v in value.items()
        )
        return "{" + body + "}"
    if isinstance(value, list):
        if style.json:
            return json.dumps(value, ensure_ascii=False)
        return "[" + ", ".join(render_inline(v, style) for v in value) + "]"
    return render_scalar(value, style, force_quote)


def is_block(value: Any) -> bool:
    """Values that are written in block style: non-empty mappings and sequences."""
    return isinstance(value, (dict, list)) and len(value) > 0


def mapping_lines(value: dict[str, Any], col: int, style: Style) -> list[str]:
    """Block mapping lines with keys at column ``col`` (no line terminators)."""
    lines: list[str] = []
    pad = " " * col
    for key, item in value.items():
        k = render_scalar(key, style)
        if isinstance(item, dict) and item:
            lines.append(f"{pad}{k}:")
            lines.extend(mapping_lines(item, col + style.mapping_indent, style))
        elif isinstance(item, list) and item:
            lines.append(f"{pad}{k}:")
            lines.extend(sequence_lines(item, col + style.sequence_offset, style))
        else:
            lines.append(f"{pad}{k}: {render_inline(item, style)}")
    return lines


def sequence_lines(value: list[Any], dash_col: int, style: Style,
                   force_quote: bool = False) -> list[str]:
    """Block sequence lines with dashes at column ``dash_col``."""
    lines: list[str] = []
    content_col = dash_col + 1 + style.dash_gap
    prefix = " " * dash_col + "-" + " " * style.dash_gap
    for item in value:
        if isinstance(item, dict) and item:
            nested = mapping_lines(item, content_col, style)
        elif isinstance(item, list) and item:
            nested = sequence_lines(item, content_col, style)
        else:
            lines.append(prefix + render_inline(item, style, force_quote))
            continue
        nested[0] = prefix + nested[0][content_col:]
        lines.extend(nested)
    return lines


def block_lines(value: Any, col: int, style: Style) -> list[str]:
    """A non-empty collection in block style: mapping keys or sequence dashes at ``col``."""
    if isinstance(value, dict):
        return mapping_lines(value, col, style)
    return sequence_lines(value, col, style)


def json_lines(value: Any, indent: int) -> list[str]:
    """Pretty-printed JSON lines; the caller prefixes the continuation lines."""
    return json.dumps(value, indent=indent, ensure_ascii=False).split("\n")


def render_document(obj: Any, style: Style) -> str:
    """A whole document body (no ``---``), terminated by the style's newline."""
    if style.json:
        lines = json_lines(obj, style.json_indent)
    elif is_block(obj):
        lines = block_lines(obj, 0, style)
    else:
        lines = [render_inline(obj, style)]
    return style.newline.join(lines) + style.newline
