"""Manifests read straight from a git repository's history: `git:REV[:PATH]`.

Why not check the revision out: the working tree is the user's (uncommitted edits, another
branch checked out, a CI checkout that must stay pristine). Blobs are listed with
`git ls-tree -r` and read with one `git cat-file --batch`, so nothing on disk changes and a
whole tree costs two git processes.

The repository is the one containing the current directory; PATH is relative to its root
(`git:HEAD~1:apps/`). Without PATH the whole tree is read. A PATH naming a directory is
read like a directory given as SOURCES (manifest suffixes, hidden entries skipped); a PATH
naming a file is read whatever its name.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import TextIO

from netpol_fix.inventory.build import Inventory
from netpol_fix.inventory.load import inventory_of, load_inventory
from netpol_fix.inventory.selection import Excludes, chart_note, chart_roots, in_templates
from netpol_fix.inventory.sources import (
    MANIFEST_SUFFIXES,
    NO_SELECTION,
    LoadResult,
    Selection,
    load_bytes,
)
from netpol_fix.model.objects import InputError

GIT_PREFIX = "git:"


class GitError(Exception):
    """A git source that cannot be read (not a repository, unknown revision or path)."""


@dataclass(frozen=True)
class GitSpec:
    rev: str
    path: str
    """Relative to the repository root, without leading or trailing `/`; empty = all."""

    def __str__(self) -> str:
        return f"{GIT_PREFIX}{self.rev}:{self.path}" if self.path else f"{GIT_PREFIX}{self.rev}"


def parse_git_spec(text: str) -> GitSpec | None:
    """`git:REV[:PATH]` as a GitSpec; None when `text` is not a git source."""
    if not text.startswith(GIT_PREFIX):
        return None
    rev, _, path = text[len(GIT_PREFIX):].partition(":")
    if not rev:
        raise GitError("expected git:REV[:PATH], e.g. git:HEAD~1:apps/")
    path = path.strip("/")
    while path.startswith("./"):
        path = path[2:]
    return GitSpec(rev, "" if path == "." else path)


def _git(args: list[str], cwd: str | None, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True,
                              check=False)
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(message[-1] if message else f"git {args[0]} failed")
    return done.stdout


def repository_root(cwd: str | None = None) -> str:
    """The root of the repository containing `cwd` (default: the current directory)."""
    try:
        return _git(["rev-parse", "--show-toplevel"], cwd).decode().strip()
    except GitError as exc:
        raise GitError(f"git sources need a git repository here: {exc}") from exc


def _is_manifest(relative: str) -> bool:
    parts = relative.split("/")
    return (not any(p.startswith(".") for p in parts)
            and parts[-1].lower().endswith(MANIFEST_SUFFIXES))


def list_blobs(spec: GitSpec, root: str) -> list[tuple[str, str]]:
    """(object id, path) of the manifest blobs the spec names, in path order."""
    try:
        commit = _git(["rev-parse", "--verify", "--quiet", "--end-of-options",
                       f"{spec.rev}^{{commit}}"], root).decode().strip()
    except GitError:
        raise GitError(f"unknown revision {spec.rev!r}") from None
    args = ["ls-tree", "-r", "-z", "--full-tree", commit]
    if spec.path:
        args += ["--", spec.path]
    entries = []
    records = [r for r in _git(args, root).split(b"\0") if r]
    if spec.path and not records:
        raise GitError(f"no such path {spec.path!r} in {spec.rev}")
    for record in records:
        meta, _, raw_path = record.partition(b"\t")
        mode, kind, object_id = meta.decode().split()
        path = raw_path.decode("utf-8", "surrogateescape")
        if kind != "blob" or mode == "120000":  # submodules and symbolic links
            continue
        relative = path[len(spec.path):].lstrip("/") if spec.path else path
        # a PATH naming a file is read whatever its name (relative is then empty)
        if not relative or _is_manifest(relative):
            entries.append((object_id, path))
    return entries


def read_blobs(object_ids: list[str], root: str) -> list[bytes]:
    """Contents of the blobs, with one `git cat-file --batch`."""
    if not object_ids:
        return []
    out = _git(["cat-file", "--batch"], root, ("\n".join(object_ids) + "\n").encode())
    contents, offset = [], 0
    for _ in object_ids:
        header_end = out.index(b"\n", offset)
        size = int(out[offset:header_end].split()[2])
        start = header_end + 1
        contents.append(out[start:start + size])
        offset = start + size + 1  # the content is followed by a newline
    return contents


def _selected(spec: GitSpec, blobs: list[tuple[str, str]], selection: Selection,
              result: LoadResult) -> list[tuple[str, str]]:
    """The blobs a directory walk of that tree would read: exclude patterns (relative to
    PATH) applied, Helm chart templates skipped with a note per chart."""
    def relative(path: str) -> str:
        return path[len(spec.path):].lstrip("/") if spec.path else path

    excludes = Excludes((*selection.exclude, *selection.config_exclude))
    named_file = len(blobs) == 1 and not relative(blobs[0][1])
    if named_file:
        return blobs
    kept = [(oid, path) for oid, path in blobs if not excludes.excludes_path(relative(path))]
    charts = chart_roots([relative(path) for _oid, path in kept])
    for chart in charts:
        result.notes.append(chart_note(f"{GIT_PREFIX}{spec.rev}:" +
                                       "/".join(p for p in (spec.path.rstrip("/"), chart) if p)))
    return [(oid, path) for oid, path in kept if in_templates(relative(path), charts) is None]


def load_git_source(text: str, cwd: str | None = None,
                    selection: Selection = NO_SELECTION) -> LoadResult:
    """Read a `git:REV[:PATH]` source; problems become InputErrors, never exceptions."""
    result = LoadResult()
    try:
        spec = parse_git_spec(text)
        if spec is None:
            raise GitError("not a git source (git:REV[:PATH])")
        root = repository_root(cwd)
        listed = list_blobs(spec, root)
        if not listed:
            result.errors.append(InputError(str(spec), None, None,
                                            "no .yaml/.yml/.json files at that revision"))
        blobs = _selected(spec, listed, selection, result)
        for (_oid, path), raw in zip(blobs, read_blobs([o for o, _p in blobs], root),
                                     strict=True):
            load_bytes(f"{GIT_PREFIX}{spec.rev}:{path}", raw, result)
    except GitError as exc:
        result.errors.append(InputError(text, None, None, str(exc)))
    return result


def load_source_inventory(source: str, stdin: TextIO | None = None,
                          selection: Selection = NO_SELECTION) -> Inventory:
    """One SOURCES argument (a path, `-`, or `git:REV[:PATH]`) as an Inventory."""
    if not source.startswith(GIT_PREFIX):
        return load_inventory([source], stdin, selection=selection)
    return inventory_of(load_git_source(source, selection=selection))
