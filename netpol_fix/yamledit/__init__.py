"""Comment-preserving edits to Kubernetes YAML (and JSON) manifests.

Only the bytes an operation needs change: nodes are located from PyYAML C-parser
events and freshly rendered text is spliced into the original string. See README.md.

May import netpol_fix.yamldata (the YAML reader the inventory uses too, so an edited
document is read back as the inventory reads it) and nothing else of netpol_fix: it edits
text and knows no Kubernetes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import jsonpatch
import jsonpointer
import yaml

from netpol_fix.yamldata import load_single
from netpol_fix.yamledit.atomic import BOM, write_atomic
from netpol_fix.yamledit.documents import DocumentSpan, split_documents
from netpol_fix.yamledit.errors import EditError
from netpol_fix.yamledit.lines import detect_newline
from netpol_fix.yamledit.locate import (
    Tree,
    check_duplicate_keys,
    line_number,
    parse_document,
    parse_tree,
)
from netpol_fix.yamledit.pointer import parse_pointer
from netpol_fix.yamledit.render import render_document as _render
from netpol_fix.yamledit.splice import DocumentEditor
from netpol_fix.yamledit.style import Style, detect_style
from netpol_fix.yamledit.style import style_from_text as _detect_file_style

__all__ = [
    "EditError",
    "append_document",
    "append_documents",
    "apply_document_operations",
    "apply_operations",
    "check_known_documents",
    "is_json_document",
    "render_document",
    "write_atomic",
]

# Files up to this size are parsed whole once, to refuse broken or templated files and
# to cross-check the document split; larger streams parse only the edited document.
FULL_CHECK_LIMIT = 1_000_000
SUPPORTED_OPS = ("add", "replace", "remove", "test")


def _check_stream(body: str, spans: Sequence[DocumentSpan], numbered: bool = False) -> None:
    """Parse a small file whole: refuse it if it does not parse or holds templates.

    A plain scalar's value is its text, lines folded with a space or a line break between
    them, so none can hold ``{{`` or ``}}`` when the file does not: such a file's events
    are only counted, in C (a fifth less than a Python loop over 1.3 M events on issue
    16's broken tree), or with ``numbered`` (the caller's reader placed each document it
    edits at its span, see check_known_documents) only parsed, in C; the others are walked
    scalar by scalar."""
    if len(body) > FULL_CHECK_LIMIT:
        return
    try:
        if "{{" in body or "}}" in body:
            documents = _walk_for_templates(body)
        elif numbered:
            _parse(body)
            documents = len(spans)
        else:
            documents = _count_documents(body)
    except yaml.YAMLError as exc:
        hint = " (it contains {{ }}: a Helm or other template?)" if "{{" in body else ""
        raise EditError(f"file does not parse as YAML{hint}: {exc}".replace("\n", " ")) from exc
    if documents != len(spans):
        raise EditError(f"internal: found {len(spans)} documents by markers but the parser "
                        f"found {documents}; refusing to edit")


def _walk_for_templates(body: str) -> int:
    """The documents of ``body``; EditError at the first plain scalar holding a template."""
    documents = 0
    for event in yaml.parse(body, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
        elif isinstance(event, yaml.ScalarEvent) and event.style in ("", None) and (
                "{{" in event.value or "}}" in event.value):
            line = event.start_mark.line + 1 if event.start_mark else 0
            raise EditError(f"line {line}: template expression {event.value!r} in a plain "
                            "scalar (Helm or another template language); refusing to edit")
    return documents


def _count_documents(body: str) -> int:
    """The documents libyaml's parser finds in ``body`` (its errors raised as they are)."""
    loader = yaml.CSafeLoader(body)
    try:
        kinds = Counter(map(type, iter(loader.get_event, None)))
    finally:
        loader.dispose()
    return kinds[yaml.DocumentStartEvent]


def _parse(body: str) -> None:
    """Parse ``body`` whole in C (libyaml's errors raised as they are), building nothing."""
    loader = yaml.CSafeLoader(body)
    try:
        loader.raw_parse()
    finally:
        loader.dispose()


def check_known_documents(text: str, lines: Iterable[tuple[int, int]]) -> None:
    """The whole-file check before editing ``text``, for a caller whose own libyaml reader
    numbered its documents: ``lines`` holds ``(document, line)`` for every document the
    caller will edit or append after, with a line (1-based) that reader found in it (the
    object's first line).

    When each such line lies in that document's span by the markers, the split agrees with
    the parser wherever anything is written (an edited document or an anchor is then also
    read alone as exactly one document), so the parser's documents need not be counted:
    the file is only parsed in C, and walked scalar by scalar where ``{{`` or ``}}`` occur.
    Otherwise (or with no lines) the full check runs. Refusals and messages are the full
    check's (EditError); the text then counts as checked for the edits that follow."""
    body = text[1:] if text.startswith(BOM) else text
    if len(body) > FULL_CHECK_LIMIT or body in _CHECKED:
        return
    spans = split_documents(body)
    known = list(lines)
    ranges = _line_ranges(body, spans) if known else []
    numbered = bool(known) and all(0 <= document < len(ranges)
                                   and ranges[document][0] <= line <= ranges[document][1]
                                   for document, line in known)
    _check_stream(body, spans, numbered)
    _remember(body, tuple(spans))


def _line_ranges(body: str, spans: Sequence[DocumentSpan]) -> list[tuple[int, int]]:
    """The first and last line (1-based) of each span, counted in one pass."""
    ranges = []
    line, pos = 1, 0
    for span in spans:
        line += body.count("\n", pos, span.start)
        last = line + body.count("\n", span.start, max(span.start, span.end - 1))
        ranges.append((line, last))
        line, pos = last, max(span.start, span.end - 1)
    return ranges


def _checked_spans(body: str) -> tuple[DocumentSpan, ...]:
    """The documents of ``body``, once it passed the whole-stream check (files up to
    FULL_CHECK_LIMIT; larger ones are only split, which the cache would not speed up and
    whose texts it would keep alive)."""
    if len(body) > FULL_CHECK_LIMIT:
        return tuple(split_documents(body))
    return _checked_small(body)


_CHECKED: dict[str, tuple[DocumentSpan, ...]] = {}
_CHECKED_SIZE = 16


def _checked_small(body: str) -> tuple[DocumentSpan, ...]:
    """Cached: SARIF output and `fix` rounds edit one file once per finding or round."""
    spans = _CHECKED.get(body)
    if spans is None:
        found = split_documents(body)
        _check_stream(body, found)
        spans = _remember(body, tuple(found))
    return spans


def _remember(body: str, spans: tuple[DocumentSpan, ...]) -> tuple[DocumentSpan, ...]:
    """Keep the last _CHECKED_SIZE checked bodies (oldest out first)."""
    _CHECKED.pop(body, None)
    _CHECKED[body] = spans
    while len(_CHECKED) > _CHECKED_SIZE:
        del _CHECKED[next(iter(_CHECKED))]
    return spans


def _edited_is_checked(body: str, before: int) -> None:
    """An edited stream is as checked as the stream it came from: every edited document
    was read back alone as one document equal to jsonpatch's answer, and the others are
    unchanged bytes. So when the markers still split it into as many documents, `fix`
    appending new documents right after the edits does not parse the whole file again
    (otherwise a second full parse per file and round)."""
    if len(body) <= FULL_CHECK_LIMIT:
        spans = tuple(split_documents(body))
        if len(spans) == before:
            _remember(body, spans)


def _span(spans: tuple[DocumentSpan, ...], document: int) -> DocumentSpan:
    if not 0 <= document < len(spans):
        raise EditError(f"document {document} does not exist (the file has {len(spans)})")
    return spans[document]


def _is_json(body: str, span: DocumentSpan) -> bool:
    chunk = body[span.start:span.end]
    tree = parse_tree(chunk)
    try:
        return detect_style(chunk, [tree.root]).json
    finally:
        tree.release()


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
    """The document's data after the patch, computed with jsonpatch (the reference);
    ``data`` is patched in place."""
    result = data
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


def _append_runs(ops: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[Any]]]:
    """The operations, with each run of consecutive ``add`` to one ``.../-`` path as its
    first operation and the values it appends (other operations: an empty list)."""
    runs: list[tuple[dict[str, Any], list[Any]]] = []
    for op in ops:
        appends = op["op"] == "add" and op["path"].endswith("/-")
        if appends and runs and runs[-1][1] and runs[-1][0]["path"] == op["path"]:
            runs[-1][1].append(op["value"])
        else:
            runs.append((op, [op["value"]] if appends else []))
    return runs


def apply_operations(text: str, document: int, operations: list[dict[str, Any]],
                     base_path: str = "") -> str:
    """Apply RFC 6902 operations to document ``document`` of ``text``; return the new text.

    ``base_path`` (e.g. ``/items/3`` in a ``kind: List``) is prefixed to every path.
    Only the target document is parsed for large files. The result is re-read and
    compared with jsonpatch's answer; any difference raises EditError (never a silent
    wrong edit).
    """
    return apply_document_operations(text, [(document, operations, base_path)])


def apply_document_operations(text: str,
                              edits: Sequence[tuple[int, list[dict[str, Any]], str]]) -> str:
    """``apply_operations`` for several documents of one file: each ``(document,
    operations, base_path)``, in order (operations on one document are applied in the
    order given). The stream is split and checked once, not once per edited document:
    a file of a thousand policies with an edit in each would otherwise be parsed whole a
    thousand times."""
    bom = text.startswith(BOM)
    body = text[1:] if bom else text
    spans = _checked_spans(body)
    operations: dict[int, list[dict[str, Any]]] = {}
    for document, ops, base_path in edits:
        _span(spans, document)
        operations.setdefault(document, []).extend(_full_operations(ops, base_path))
    newline = detect_newline(body)
    pieces: list[str] = []
    done = 0
    for document in sorted(operations):
        span = spans[document]
        pieces += [body[done:span.start], _edit_document(body, span, operations[document],
                                                         newline)]
        done = span.end
    new = "".join(pieces) + body[done:]
    _edited_is_checked(new, len(spans))
    return BOM + new if bom else new


def _edit_document(body: str, span: DocumentSpan, ops: list[dict[str, Any]],
                   newline: str) -> str:
    """The new text of the document at ``span``, read back and checked against jsonpatch."""
    chunk = body[span.start:span.end]
    base_line = line_number(body, span.start) - 1
    tree, original = parse_document(chunk, base_line)
    try:
        return _edited_text(chunk, tree, original, ops, base_line, newline)
    finally:
        tree.release()


def _edited_text(chunk: str, tree: Tree, original: Any, ops: list[dict[str, Any]],
                 base_line: int, newline: str) -> str:
    check_duplicate_keys(tree.root, chunk, base_line)
    expected = _expected(original, ops, base_line)

    style = detect_style(chunk, [tree.root]).with_(newline=newline)
    editor = DocumentEditor(chunk, style, base_line, tree.root)
    for op, appended in _append_runs(ops):
        tokens = parse_pointer(op["path"])
        if appended:
            editor.append(tokens[:-1], appended)
        elif op["op"] == "add":
            editor.add(tokens, op["value"])
        elif op["op"] == "replace":
            editor.replace(tokens, op["value"])
        elif op["op"] == "remove":
            editor.remove(tokens)
    try:
        result = load_single(editor.text)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        raise EditError(f"internal: the edited document does not parse ({exc}); "
                        "nothing written") from exc
    if result != expected:
        raise EditError("internal: the edited document does not read back as the patched "
                        "data; nothing written")
    return editor.text


def is_json_document(text: str, document: int) -> bool:
    """Whether document ``document`` of ``text`` is JSON (then nothing can follow it)."""
    body = text[1:] if text.startswith(BOM) else text
    return _is_json(body, _span(_checked_spans(body), document))


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
    return append_documents(text, [(after_document, obj)])


def append_documents(text: str, new: Sequence[tuple[int, dict[str, Any]]]) -> str:
    """``append_document`` for several ``(after_document, obj)``: the documents that go
    after one anchor keep their order; the file is checked and its layout read once."""
    bom = text.startswith(BOM)
    body = text[1:] if bom else text
    spans = _checked_spans(body)
    style = _detect_file_style(body)
    nl = style.newline
    blocks: dict[int, str] = {}
    for anchor, obj in new:
        _span(spans, anchor)
        blocks[anchor] = blocks.get(anchor, "") + "---" + nl + _render(obj, style)
    pieces: list[str] = []
    done = 0
    for anchor in sorted(blocks):
        span = spans[anchor]
        if _is_json(body, span):
            raise EditError("cannot append a document to a JSON document; a JSON file "
                            "holds one document")
        block = blocks[anchor]
        if span.end > 0 and body[span.end - 1] != "\n":
            block = nl + block[:-len(nl)]  # keep the missing final newline missing
        pieces += [body[done:span.end], block]
        done = span.end
    result = "".join(pieces) + body[done:]
    return BOM + result if bom else result
