"""Apply a Plan to files: new texts through the byte-faithful YAML editor, diffs, writes.

Nothing is written unless every edit of a file succeeded; each file is replaced atomically.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netpol_fix.fixes.plan import FilePlan, Plan
from netpol_fix.inventory.sources import STDIN_NAME
from netpol_fix.yamledit import (
    EditError,
    append_documents,
    apply_document_operations,
    is_json_document,
    write_atomic,
)


@dataclass
class FileResult:
    file: str
    old: str
    new: str | None
    error: str | None = None

    @property
    def changed(self) -> bool:
        return self.new is not None and self.new != self.old


def edit_text(text: str, file_plan: FilePlan) -> str:
    """The file's new text: document edits first (indices stay put), then the new
    documents, each after its anchor (several after one anchor in the plan's order).

    A new object whose anchor is an item of a JSON `kind: List` becomes the item right
    after it: a JSON file holds one document, so nothing can follow the List."""
    edits = sorted(file_plan.edits.items(), key=lambda kv: (kv[0][0], kv[0][1] or -1))
    operations = [(document, edit.operations, f"/items/{item}" if item is not None else "")
                  for (document, item), edit in edits]
    documents: list[tuple[int, dict[str, Any]]] = []
    items: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for anchor, item, new in file_plan.creates:
        if item is not None and is_json_document(text, anchor):
            items.setdefault(anchor, []).append((item, new.obj))
        else:
            documents.append((anchor, new.obj))
    for document, news in sorted(items.items()):
        # inserted last to first, each right after its anchor item: the indices of the
        # anchors before it stay put, and several after one anchor keep the plan's order
        operations.append((document, [
            {"op": "add", "path": f"/items/{item + 1}", "value": obj}
            for _order, (item, obj) in sorted(enumerate(news), key=lambda e: (-e[1][0], -e[0]))
        ], ""))
    if operations:
        text = apply_document_operations(text, operations)
    if documents:
        text = append_documents(text, documents)
    return text


def apply_plan(plan: Plan, texts: dict[str, str] | None = None) -> list[FileResult]:
    """Compute every file's new text; `texts` supplies contents already read (stdin)."""
    results = []
    for file, file_plan in sorted(plan.files.items()):
        try:
            old = texts[file] if texts and file in texts else _read(file)
        except OSError as err:
            results.append(FileResult(file, "", None, f"cannot read: {err}"))
            continue
        try:
            results.append(FileResult(file, old, edit_text(old, file_plan)))
        except EditError as err:
            results.append(FileResult(file, old, None, str(err)))
    return results


def _read(file: str) -> str:
    with open(file, encoding="utf-8", newline="") as handle:
        return handle.read()


def unified_diff(results: Iterable[FileResult]) -> str:
    """git-style unified diff (`--- a/PATH`, `+++ b/PATH`, paths as given)."""
    chunks = []
    for result in results:
        if not result.changed or result.new is None:
            continue
        old_lines = result.old.splitlines(keepends=True)
        new_lines = result.new.splitlines(keepends=True)
        path = _diff_path(result.file) if result.file != STDIN_NAME else "stdin"
        lines = list(difflib.unified_diff(old_lines, new_lines, f"a/{path}", f"b/{path}"))
        chunks.append(f"diff --git a/{path} b/{path}\n")
        for line in lines:
            if not line.endswith("\n"):
                line += "\n\\ No newline at end of file\n"
            chunks.append(line)
    return "".join(chunks)


def _diff_path(file: str) -> str:
    """The path as given, without a leading `/` or `./` (git apply rejects `a/./x`)."""
    path = file.lstrip("/")
    while path.startswith("./"):
        path = path[2:].lstrip("/")
    return path


def write_results(results: Iterable[FileResult]) -> list[str]:
    """Write every changed file atomically; returns the files written."""
    written = []
    for result in results:
        if result.changed and result.new is not None and result.file != STDIN_NAME:
            write_atomic(Path(result.file), result.new)
            written.append(result.file)
    return written
