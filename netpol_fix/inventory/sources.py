"""Read SOURCES (files, directories, stdin) into SourceObjects, reporting bad input.

This module is the public face of reading; the work is split by job: files.py (finding and
reading files and streams), texts.py (parsing one text into documents), yaml_loader.py
(the fast exact YAML constructor), kinds.py (documents to Kubernetes objects). Shapes are
validated when the inventory is built (build.py, policies.py, selectors.py).

Why this module exists: every command starts from manifests that real repositories hold, and
those are messy (Helm templates, tabs, a typo in one document of a 97 KB install, JSON dumps
that are not Kubernetes objects). The rest of the tool must see clean objects with a precise
`Location`, and the user must see one clear InputError per problem instead of a traceback.

Design choices:
* YAML is parsed with libyaml (`yaml.CSafeLoader`) node by node: composing is done in C, and
  the composed root node gives the document's start line for free, so nothing is parsed twice.
* After a syntax error the parser cannot continue, so reading resumes at the next `---` line:
  one bad document does not hide the documents after it.
* Text that is JSON is parsed with `json` (faster, and it allows the tabs YAML forbids); item
  lines of a JSON list come from a small offset scanner built on `json`'s own decoder.
* `locate_line` re-reads one document on demand: field lines are only needed for errors.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from netpol_fix.inventory.collector import collector_paused
from netpol_fix.inventory.files import (
    MANIFEST_SUFFIXES,
    MAX_FILE_BYTES,
    NO_SELECTION,
    STDIN_NAME,
    Selection,
    cached_text,
    clear_text_cache,
    expand_source,
    identity,
    load_decoded,
    load_path,
    load_stdin,
    read_digest,
    stdin_text,
)
from netpol_fix.inventory.kinds import LoadResult
from netpol_fix.inventory.parallel_read import ReadJob, read_all
from netpol_fix.inventory.texts import (
    json_locate,
    load_text,
    looks_like_json,
    reused_names,
    yaml_locate,
)
from netpol_fix.model.objects import InputError, SourceObject

__all__ = [
    "MANIFEST_SUFFIXES",
    "NO_SELECTION",
    "STDIN_NAME",
    "LoadResult",
    "Selection",
    "clear_text_cache",
    "load_bytes",
    "load_sources",
    "locate_line",
    "read_digest",
    "stdin_text",
]


def load_sources(sources: Sequence[str], stdin: TextIO | None = None,
                 overrides: Mapping[str, str] | None = None,
                 selection: Selection = NO_SELECTION) -> LoadResult:
    """Read every source in order; never raises for bad input.

    Problems become InputErrors and reading goes on with the next document or file, so one
    bad file costs the user only that file's (or document's) findings. `overrides` gives
    texts to read instead of some files (by path as listed, or `<stdin>`): `fix` analyses
    its own edits again before writing them. `selection`: exclude patterns for the files
    found in directories (explicitly named files are always read).
    """
    with collector_paused():  # (inventory/collector.py)
        return _load_sources(sources, stdin, overrides or {}, selection)


def _load_sources(sources: Sequence[str], stdin: TextIO | None,
                  overrides: Mapping[str, str], selection: Selection) -> LoadResult:
    result = LoadResult()
    read_all(_read_jobs(sources, stdin, overrides, selection), result)
    return result


def _read_jobs(sources: Sequence[str], stdin: TextIO | None, overrides: Mapping[str, str],
               selection: Selection) -> list[ReadJob]:
    """What reading the sources in order does, as jobs (parallel_read.py may run a tail of
    them in another process): stdin, each file, and what expanding a directory found to
    say (a missing path, a symlinked directory, a Helm chart), each at its place."""
    jobs: list[ReadJob] = []
    seen: set[str] = set()
    likely_reused = reused_names()
    for source in sources:
        if source == "-":
            if STDIN_NAME in seen:
                continue
            seen.add(STDIN_NAME)
            if STDIN_NAME in overrides:
                text = overrides[STDIN_NAME]
                jobs.append(ReadJob(STDIN_NAME, 0, functools.partial(
                    load_text, STDIN_NAME, text), movable=False))
            else:
                jobs.append(ReadJob(STDIN_NAME, 0, functools.partial(
                    load_stdin, stdin if stdin is not None else sys.stdin), movable=False))
            continue
        expansion = LoadResult()
        paths = expand_source(source, expansion, selection)
        if expansion.errors or expansion.notes:  # (said at its place in the output)
            jobs.append(ReadJob(source, 0, functools.partial(LoadResult.extend,
                                                             other=expansion)))
        for path in paths:
            key = identity(path)
            if key in seen:
                continue
            seen.add(key)
            # a text given from memory (reuse_unchanged_texts) costs nothing to read here,
            # and the objects it gives stay the very objects read the first time
            reused = path in likely_reused
            if path in overrides:
                # a text to read instead of the file (`fix`'s edited texts)
                jobs.append(ReadJob(path, 0 if reused else len(overrides[path]),
                                    functools.partial(load_decoded, path, overrides[path]),
                                    movable=not reused))
                continue
            jobs.append(ReadJob(path, 0 if reused else _size(path),
                                functools.partial(load_path, path), movable=not reused))
    return jobs


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def load_bytes(name: str, raw: bytes, result: LoadResult) -> None:
    """Read one manifest file's bytes that come from somewhere other than the file system
    (a git blob), under `name`, exactly as a file with that content would be read.

    The text is cached under `name`, so `locate_line` finds field lines for its errors.
    """
    if len(raw) > MAX_FILE_BYTES:
        result.errors.append(InputError(name, None, None, (
            f"{len(raw):,} bytes; files of at most {MAX_FILE_BYTES:,} bytes are read")))
        return
    with collector_paused():
        load_decoded(name, raw, result)


def locate_line(source: SourceObject, path: Sequence[str | int]) -> int | None:
    """Return the 1-based line of the field at `path` inside `source`, or None if unknown.

    Only errors need this (a bad CIDR should name its own line), so the document is re-read
    on demand instead of keeping marks for every node of every object.
    """
    loc = source.location
    if loc is None:
        return None
    try:
        text = cached_text(loc.file)
        if text is None:
            return None
        steps: list[str | int] = list(path)
        if source.item_index is not None:
            steps = ["items", source.item_index, *steps]
        if looks_like_json(text):
            try:
                offset = json_locate(text, steps)
            except (ValueError, IndexError):
                offset = None
            if offset is not None:
                return text.count("\n", 0, offset) + 1
        return yaml_locate(text, loc.document, steps)
    except Exception:  # noqa: BLE001 - a line number is a nicety; never fail an error report
        return None
