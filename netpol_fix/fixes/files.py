"""Apply a Plan to files: new texts through the byte-faithful YAML editor, diffs, writes.

Nothing is written unless every edit of a file succeeded; each file is replaced atomically,
in the encoding and line endings it was read in, and only if it still holds the text the
fixes were planned on. A file that cannot be edited or written is one error for that file:
the others still get theirs. A file whose real path lies outside the WriteScope (the
SOURCES roots; for `pr` the worktree) is refused before it is edited.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netpol_fix.fixes.line_diff import unified_lines
from netpol_fix.fixes.plan import FilePlan, Plan
from netpol_fix.fixes.scope import WriteScope
from netpol_fix.inventory.sources import STDIN_NAME, read_digest
from netpol_fix.workers import Job, run_in_order
from netpol_fix.yamledit import (
    EditError,
    append_documents,
    apply_document_operations,
    check_known_documents,
    is_json_document,
)
from netpol_fix.yamledit.atomic import (
    UTF8,
    Encoding,
    Fingerprint,
    read_file,
    terminate_cleanly,
    write_atomic,
)


@dataclass
class FileResult:
    file: str
    old: str
    new: str | None
    error: str | None = None
    encoding: Encoding = UTF8
    """The file's encoding as read, so it is written back in it (UTF-16/32 keep theirs)."""
    fingerprint: Fingerprint | None = None
    """What the file held when the fixes were planned; a write checks it still does."""

    @property
    def changed(self) -> bool:
        return self.new is not None and self.new != self.old


def edit_text(text: str, file_plan: FilePlan) -> str:
    """The file's new text: document edits first (indices stay put), then the new
    documents, each after its anchor (several after one anchor in the plan's order).

    A new object whose anchor is an item of a JSON `kind: List` becomes the item right
    after it: a JSON file holds one document, so nothing can follow the List.

    The inventory's reader numbered the file's documents and placed each object at its
    line: the editor checks its own split against those lines instead of counting every
    parser event of the file again (yamledit.check_known_documents)."""
    check_known_documents(text, _object_lines(file_plan))
    edits = sorted(file_plan.edits.items(), key=lambda kv: (kv[0][0], kv[0][1] or -1))
    operations = [(document, _spec_first(edit.spec_defaulted) + edit.operations,
                   f"/items/{item}" if item is not None else "")
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


def _object_lines(file_plan: FilePlan) -> list[tuple[int, int]]:
    """(document, first line) of every object the plan edits or appends after."""
    lines = [(document, edit.line) for (document, _item), edit in file_plan.edits.items()
             if edit.line is not None]
    lines += [(document, new.after.location.line) for document, _item, new in file_plan.creates
              if new.after is not None and new.after.location is not None]
    return lines


def _spec_first(defaulted: str | None) -> list[dict[str, Any]]:
    """A document without a `spec` mapping gets `spec: {}` before the fix's operations."""
    if defaulted == "absent":
        return [{"op": "add", "path": "/spec", "value": {}}]
    if defaulted == "null":
        return [{"op": "test", "path": "/spec", "value": None},
                {"op": "replace", "path": "/spec", "value": {}}]
    return []


PARALLEL_EDIT_BYTES = 1024 * 1024
"""Bytes of files to edit from which a forked child edits part of them (workers.py)."""


def apply_plan(plan: Plan, texts: dict[str, str] | None = None,
               scope: WriteScope | None = None) -> list[FileResult]:
    """Compute every file's new text; `texts` supplies contents already read (stdin, or
    the edited texts of an earlier round). With `scope`, a file outside it is refused.

    Each file's edit is its own job: on a large run a forked child edits a run of the
    files (half of the bytes, measured best) while this process edits the others
    (workers.py); only the new texts (or the editor's refusals) come back, in the files'
    order (the broken bench tree's edits: 1.42 s in one process, 0.77 s on two cores)."""
    results: list[FileResult] = []
    jobs: list[Job[tuple[str | None, str | None]]] = []
    pending: list[int] = []  # per job, the index of its file's result
    for file, file_plan in sorted(plan.files.items()):
        refusal = scope.refusal(file) if scope is not None and file != STDIN_NAME else None
        if refusal:
            results.append(FileResult(file, "", None, refusal))
            continue
        encoding, fingerprint = UTF8, None
        if texts and file in texts:
            old = texts[file]
        else:
            try:
                read = read_file(file)
            except OSError as err:
                results.append(FileResult(file, "", None, f"cannot read: {_os_reason(err)}"))
                continue
            except EditError as err:
                results.append(FileResult(file, "", None, str(err)))
                continue
            old, encoding, fingerprint = read.text, read.encoding, read.fingerprint
            planned_on = read_digest(file)
            if planned_on is not None and planned_on != fingerprint.sha256:
                results.append(FileResult(file, old, None, (
                    "changed since netpol-fix read it; the fixes were planned on the old "
                    "text, so it is left as it is; run again")))
                continue
        pending.append(len(results))
        results.append(FileResult(file, old, None, encoding=encoding, fingerprint=fingerprint))
        jobs.append(Job(len(old), functools.partial(_edited, old, file_plan)))
    answers = iter(pending)

    def merge(outcome: tuple[str | None, str | None]) -> None:
        result = results[next(answers)]
        result.new, result.error = outcome

    run_in_order(jobs, merge, min_total=PARALLEL_EDIT_BYTES, share=0.5)
    return results


def _edited(old: str, file_plan: FilePlan) -> tuple[str | None, str | None]:
    """(the file's new text, None), or (None, why the editor refused it)."""
    try:
        return _edit_in_own_line_endings(old, file_plan), None
    except EditError as err:
        return None, str(err)


def _edit_in_own_line_endings(text: str, file_plan: FilePlan) -> str:
    """`edit_text`, for a file whose only line break is a lone CR (classic Mac OS) too:
    YAML reads CR as a line break, the editor works with LF, so the CRs become LFs for the
    edit and the result gets CRs back (exact: the text held no LF)."""
    if "\r" in text and "\n" not in text:
        return edit_text(text.replace("\r", "\n"), file_plan).replace("\n", "\r")
    lone_cr = _LONE_CR.search(text)
    if lone_cr:
        line = text.count("\n", 0, lone_cr.start()) + text.count("\r", 0, lone_cr.start()) + 1
        raise EditError(f"line {line} ends with a lone CR while other lines end with LF; "
                        "mixed line endings are not edited (convert the file to one kind)")
    return edit_text(text, file_plan)


_LONE_CR = re.compile("\r(?!\n)")


def _os_reason(err: OSError) -> str:
    """`read-only file system`, `no space left on device`: the OS's words, lower case."""
    reason = err.strerror or str(err)
    return reason[:1].lower() + reason[1:]


def unified_diff(results: Iterable[FileResult]) -> str:
    """git-style unified diff (`--- a/PATH`, `+++ b/PATH`, paths as given), aligned
    document by document (line_diff.py)."""
    chunks = []
    for result in results:
        if not result.changed or result.new is None:
            continue
        old_lines = result.old.splitlines(keepends=True)
        new_lines = result.new.splitlines(keepends=True)
        path = _diff_path(result.file) if result.file != STDIN_NAME else "stdin"
        lines = list(unified_lines(old_lines, new_lines, f"a/{path}", f"b/{path}"))
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


@dataclass
class WriteOutcome:
    written: list[str]
    failed: list[tuple[str, str]]
    """(file, reason) for each file that could not be written; it is left as it was."""


def write_results(results: Iterable[FileResult]) -> WriteOutcome:
    """Write every changed file atomically, each on its own: one file's failure (a
    read-only folder, a full disk, an owner that cannot be kept, an edit made since it was
    read) is recorded for that file and the others are still written."""
    outcome = WriteOutcome([], [])
    with terminate_cleanly():
        for result in results:
            if not result.changed or result.new is None or result.file == STDIN_NAME:
                continue
            try:
                write_atomic(Path(result.file), result.new, encoding=result.encoding,
                             expect=result.fingerprint)
            except OSError as err:
                outcome.failed.append((result.file, f"cannot write: {_os_reason(err)}"))
            except EditError as err:
                outcome.failed.append((result.file, f"cannot write: {err}"))
            else:
                outcome.written.append(result.file)
    return outcome
