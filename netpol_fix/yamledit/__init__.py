"""Comment-preserving edits to Kubernetes YAML (and JSON) manifests.

Only the bytes an operation needs change: nodes are located from PyYAML C-parser
events and freshly rendered text is spliced into the original string. See README.md.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer
import yaml

from netpol_fix.yamledit.atomic import BOM, write_atomic
from netpol_fix.yamledit.documents import DocumentSpan, split_documents
from netpol_fix.yamledit.errors import EditError
from netpol_fix.yamledit.lines import detect_newline
from netpol_fix.yamledit.locate import check_duplicate_keys, line_number, parse_tree
from netpol_fix.yamledit.pointer import parse_pointer
from netpol_fix.yamledit.render import render_document as _render
from netpol_fix.yamledit.splice import DocumentEditor
from netpol_fix.yamledit.style import Style, detect_style
from netpol_fix.yamledit.style import style_from_text as _detect_file_style

__all__ = [
    "EditError",
    "append_document",
    "apply_operations",
    "render_document",
    "write_atomic",
]

# Files up to this size are parsed whole once, to refuse broken or templated files and
# to cross-check the document split; larger streams parse only the edited document.
FULL_CHECK_LIMIT = 1_000_000
SUPPORTED_OPS = ("add", "replace", "remove", "test")


def _check_stream(body: str, spans: list[DocumentSpan]) -> None:
    """Parse a small file whole: refuse it if it does not parse or holds templates."""
    if len(body) > FULL_CHECK_LIMIT:
        return
    documents = 0
    try:
        for event in yaml.parse(body, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
            elif isinstance(event, yaml.ScalarEvent) and event.style in ("", None) and (
                    "{{" in event.value or "}}" in event.value):
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise EditError(f"line {line}: template expression {event.value!r} in a plain "
                                "scalar (Helm or another template language); refusing to edit")
    except yaml.YAMLError as exc:
        hint = " (it contains {{ }}: a Helm or other template?)" if "{{" in body else ""
        raise EditError(f"file does not parse as YAML{hint}: {exc}".replace("\n", " ")) from exc
    if documents != len(spans):
        raise EditError(f"internal: found {len(spans)} documents by markers but the parser "
                        f"found {documents}; refusing to edit")


def _document_span(body: str, document: int) -> tuple[list[DocumentSpan], DocumentSpan]:
    spans = split_documents(body)
    _check_stream(body, spans)
    if not 0 <= document < len(spans):
        raise EditError(f"document {document} does not exist (the file has {len(spans)})")
    return spans, spans[document]


def _full_operations(operations: list[dict[str, Any]], base_path: str) -> list[dict[str, Any]]:
    ops = []
    for op in operations:
        if op.get("op") not in SUPPORTED_OPS:
            raise EditError(f"unsupported operation {op.get('op')!r} (supported: "
                            f"{', '.join(SUPPORTED_OPS)})")
        if "path" not in op or ("value" not in op and op["op"] in ("add", "replace", "test")):
            raise EditError(f"malformed operation {op!r}")
        ops.append({**op, "path": base_path + op["path"]})
    return ops


def _expected(data: Any, ops: list[dict[str, Any]], base_line: int) -> Any:
    """The document's data after the patch, computed with jsonpatch (the reference)."""
    result = copy.deepcopy(data)
    for index, op in enumerate(ops):
        try:
            result = jsonpatch.apply_patch(result, [op], in_place=True)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise EditError(f"operation {index} (test {op['path']}) failed in the document "
                            f"starting at line {base_line + 1}: {exc}") from exc
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise EditError(f"operation {index} ({op['op']} {op['path']}) cannot apply to the "
                            f"document starting at line {base_line + 1}: {exc}") from exc
    return result


def apply_operations(text: str, document: int, operations: list[dict[str, Any]],
                     base_path: str = "") -> str:
    """Apply RFC 6902 operations to document ``document`` of ``text``; return the new text.

    ``base_path`` (e.g. ``/items/3`` in a ``kind: List``) is prefixed to every path.
    Only the target document is parsed for large files. The result is re-read and
    compared with jsonpatch's answer; any difference raises EditError (never a silent
    wrong edit).
    """
    bom = text.startswith(BOM)
    body = text[1:] if bom else text
    ops = _full_operations(operations, base_path)
    _, span = _document_span(body, document)
    chunk = body[span.start:span.end]
    base_line = line_number(body, span.start) - 1
    tree = parse_tree(chunk, base_line)
    check_duplicate_keys(tree.root, chunk, base_line)
    original = yaml.load(chunk, Loader=yaml.CSafeLoader)
    expected = _expected(original, ops, base_line)

    style = detect_style(chunk, [tree.root]).with_(newline=detect_newline(body))
    editor = DocumentEditor(chunk, style, base_line)
    for op in ops:
        tokens = parse_pointer(op["path"])
        if op["op"] == "add":
            editor.add(tokens, op["value"])
        elif op["op"] == "replace":
            editor.replace(tokens, op["value"])
        elif op["op"] == "remove":
            editor.remove(tokens)
    try:
        result = yaml.load(editor.text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise EditError(f"internal: the edited document does not parse ({exc}); "
                        "nothing written") from exc
    if result != expected:
        raise EditError("internal: the edited document does not read back as the patched "
                        "data; nothing written")
    new = body[:span.start] + editor.text + body[span.end:]
    return BOM + new if bom else new


def render_document(obj: Any, style_from_text: str | None = None) -> str:
    """Render a brand-new document (no ``---``) in the layout of an existing file.

    With ``style_from_text`` the indentation, sequence style, quotes and line ending
    follow that file; without it, 2-space indentation and LF.
    """
    style = _detect_file_style(style_from_text) if style_from_text is not None else Style()
    return _render(obj, style)


def append_document(text: str, after_document: int, obj: dict[str, Any]) -> str:
    """Insert ``---`` and a new document right after document ``after_document``.

    The new document goes before the next ``---`` (after an ``...`` that ends the
    document), uses the file's layout and line endings, and a missing final newline
    stays missing.
    """
    bom = text.startswith(BOM)
    body = text[1:] if bom else text
    _, span = _document_span(body, after_document)
    style = _detect_file_style(body)
    chunk_root = parse_tree(body[span.start:span.end]).root
    if detect_style(body[span.start:span.end], [chunk_root]).json:
        raise EditError("cannot append a document to a JSON document; a JSON file holds "
                        "one document")
    nl = style.newline
    new_doc = "---" + nl + _render(obj, style)
    at = span.end
    before = body[:at]
    if before and not before.endswith("\n"):
        new_doc = nl + new_doc[:-len(nl)]  # keep the missing final newline missing
    result = before + new_doc + body[at:]
    return BOM + result if bom else result

