"""Finding and reading the files and streams of SOURCES: directories walked (hidden entries
skipped), one identity per file, bytes decoded (BOMs, UTF-16/32, binary refused) with
normalised line breaks, and the texts remembered so `locate_line` can find field lines.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TextIO

from netpol_fix.inventory.kinds import LoadResult
from netpol_fix.inventory.selection import CHART_FILE, TEMPLATES_DIR, Excludes, chart_note
from netpol_fix.inventory.texts import load_text
from netpol_fix.model.objects import InputError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


STDIN_NAME = "<stdin>"


MAX_FILE_BYTES = 256 * 1024 * 1024
"""A file larger than this is refused unread: no manifest stream needs more, and reading
one whole is what makes a huge file a memory problem."""


_TEXT_CACHE_SIZE = 32


_text_cache: OrderedDict[str, str] = OrderedDict()


_stdin_text: str | None = None


_digests: dict[str, str] = {}
"""SHA-256 of each file's bytes as last read for analysis: `fix` writes a file only if it
still holds the text its fixes were planned on (a few dozen bytes per file)."""


def read_digest(path: str) -> str | None:
    """The SHA-256 of `path`'s bytes when it was last read from disk, if it was."""
    return _digests.get(path)


def digests_of(paths: set[str]) -> dict[str, str]:
    """The digests recorded for `paths` (a reader in another process sends them back)."""
    return {path: digest for path, digest in _digests.items() if path in paths}


def adopt_digests(digests: dict[str, str]) -> None:
    """Record digests another process computed when it read those files."""
    _digests.update(digests)


def clear_text_cache() -> None:
    """Forget cached file texts (tests, or a long-running caller that edited files)."""
    global _stdin_text
    _text_cache.clear()
    _digests.clear()
    _stdin_text = None


@dataclass(frozen=True)
class Selection:
    """Which files of the SOURCES directories are read: `--exclude` patterns (relative to
    each SOURCES directory) and `exclude:` of .netpol-fix.yaml (relative to that file's
    folder, or to each SOURCES directory: a pattern applies where it matches)."""

    exclude: tuple[str, ...] = ()
    config_exclude: tuple[str, ...] = ()
    config_root: str | None = None

    @cached_property
    def _options(self) -> Excludes:
        return Excludes((*self.exclude, *self.config_exclude))

    @cached_property
    def _config(self) -> Excludes:
        return Excludes(self.config_exclude)

    def excluded(self, root: str, path: str, is_dir: bool) -> bool:
        """Whether `path` (found under the SOURCES directory `root`) is excluded."""
        relative = os.path.relpath(path, root).replace(os.sep, "/")
        if self._options and self._options.excluded(relative, is_dir):
            return True
        if self._config and self.config_root is not None:
            inside = os.path.relpath(os.path.abspath(path), os.path.abspath(self.config_root))
            if not inside.startswith(".."):
                return self._config.excluded(inside.replace(os.sep, "/"), is_dir)
        return False


NO_SELECTION = Selection()


def expand_source(source: str, result: LoadResult,
                  selection: Selection = NO_SELECTION) -> list[str]:
    """Turn one SOURCES argument into the files to read (an explicit file whatever its
    name: exclude patterns and Helm charts only shape what a directory yields)."""
    if os.path.isdir(source):
        linked: list[str] = []
        files, charts, excluded = _manifest_files(source, selection, linked)
        for link in linked:
            result.errors.append(InputError(
                link, None, None, f"symlinked directory (to {os.path.realpath(link)}) not "
                "followed: neither read nor written; name it as a source to read it",
                "warning"))
        for chart in charts:
            result.notes.append(chart_note(chart))
        if not files and not charts and not excluded:
            hidden = _hidden_manifest_dirs(source)
            message = f"no .yaml/.yml/.json files under {source}"
            if hidden:
                message += (f" outside hidden directories (skipped: {', '.join(hidden[:3])}; "
                            "name one to scan it)")
            result.errors.append(InputError(source, None, None, message))
        return files
    if not os.path.exists(source):
        result.errors.append(InputError(source, None, None, "no such file or directory"))
        return []
    return [source]


def _hidden_manifest_dirs(directory: str) -> list[str]:
    """Hidden directories that hold manifests, for the message that explains why a
    directory gave no files (an archived `.archive/` tree is skipped like `.git`)."""
    found: set[str] = set()
    for root, _, files in os.walk(directory):
        parts = os.path.relpath(root, directory).split(os.sep)
        hidden = next((i for i, p in enumerate(parts) if p.startswith(".") and p != "."), None)
        if hidden is not None and any(f.lower().endswith(MANIFEST_SUFFIXES) for f in files):
            found.add(os.path.join(directory, *parts[:hidden + 1]))
    return sorted(found)


def _manifest_files(directory: str, selection: Selection = NO_SELECTION,
                    linked: list[str] | None = None) -> tuple[list[str], list[str], int]:
    """Manifest files under `directory`, recursively, sorted; hidden files and dirs
    skipped; excluded paths skipped (an excluded directory is not entered); the templates
    of Helm charts skipped. Also the charts found and how many paths were excluded.

    Hidden entries are skipped because they are tool state (`.git`, `.github`) or config
    (`.netpol-fix.yaml`), never manifests to analyse; our own temporary files
    (`.NAME.XXXXXXXX.tmp`) are hidden too. Symlinked directories are not followed (they
    can point anywhere, even at an ancestor), so their files are neither read nor written;
    they are added to `linked` for a warning. Symlinked files are read; whether one may be
    written is decided by its real path (fixes/scope.py).
    """
    found: list[tuple[tuple[str, ...], str]] = []
    charts: list[str] = []
    excluded = 0
    for root, dirs, files in os.walk(directory):
        kept = []
        for name in sorted(dirs):
            if name.startswith("."):
                continue
            if selection.excluded(directory, os.path.join(root, name), is_dir=True):
                excluded += 1
                continue
            kept.append(name)
        if CHART_FILE in files and TEMPLATES_DIR in kept:
            kept.remove(TEMPLATES_DIR)
            charts.append(root)
        dirs[:] = kept
        if linked is not None:
            linked.extend(os.path.join(root, d) for d in kept
                          if os.path.islink(os.path.join(root, d)))
        rel_root = os.path.relpath(root, directory)
        rel_parts = () if rel_root == os.curdir else tuple(rel_root.split(os.sep))
        for name in files:
            if name.startswith(".") or not name.lower().endswith(MANIFEST_SUFFIXES):
                continue
            path = os.path.join(root, name)
            if selection.excluded(directory, path, is_dir=False):
                excluded += 1
                continue
            found.append(((*rel_parts, name), path))
    found.sort()
    return [path for _, path in found], sorted(charts), excluded


def identity(path: str) -> str:
    """A key that is equal for two spellings of the same file, so it is read once."""
    try:
        return os.path.realpath(path)
    except OSError:
        return path


def load_stdin(stream: TextIO, result: LoadResult) -> None:
    global _stdin_text
    try:
        buffer = getattr(stream, "buffer", None)
        raw: bytes | str = _read_bounded(buffer if buffer is not None else stream)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        result.errors.append(InputError(STDIN_NAME, None, None, f"cannot read stdin: {exc}"))
        return
    if len(raw) > MAX_FILE_BYTES:
        result.errors.append(InputError(STDIN_NAME, None, None, (
            f"more than {MAX_FILE_BYTES:,} bytes; at most that much is read from stdin")))
        return
    text = decode(STDIN_NAME, raw, result)
    if text is None:
        return
    _stdin_text = _as_given(raw, text)
    load_text(STDIN_NAME, text, result)


def _read_bounded(stream: Any) -> bytes | str:
    """At most MAX_FILE_BYTES + 1 of a stream, in chunks (one read(n) with a huge n would
    allocate n bytes first)."""
    chunks = []
    total = 0
    while total <= MAX_FILE_BYTES:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if not chunks:
        return stream.read(0)
    return chunks[0][:0].join(chunks)


def _as_given(raw: bytes | str, decoded: str) -> str:
    """stdin's text as `fix -` edits and prints it: like a file the editor reads, with its
    UTF-8 BOM and line breaks as given (`decoded` has them normalised for the analysis);
    `decoded` for other encodings."""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")  # a UTF-8 BOM stays, as U+FEFF
    except UnicodeDecodeError:
        return decoded


def load_path(path: str, result: LoadResult) -> None:
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_FILE_BYTES:
                result.errors.append(InputError(path, None, None, (
                    f"{size:,} bytes; files of at most {MAX_FILE_BYTES:,} bytes are read "
                    "(split it)")))
                return
            raw = handle.read()  # (read(n) with a huge n allocates n bytes first)
    except OSError as exc:
        result.errors.append(InputError(path, None, None, f"cannot read: {exc.strerror or exc}"))
        return
    _digests[path] = hashlib.sha256(raw).hexdigest()
    load_decoded(path, raw, result)


def load_decoded(name: str, raw: bytes | str, result: LoadResult) -> None:
    """Decode a file's bytes (or a text given for it), remember the text for field lines
    (locate_line), and read its objects."""
    text = decode(name, raw, result)
    if text is not None:
        remember_text(name, text)
        load_text(name, text, result)


def decode(name: str, raw: bytes | str, result: LoadResult) -> str | None:
    """Bytes to text with normalised line breaks, or an InputError for binary content.

    CR LF and lone CR become LF: YAML counts each as one line break, and so must our own
    line arithmetic (item offsets, resuming after an error).
    """
    if isinstance(raw, bytes):
        for bom, encoding in (
            (codecs.BOM_UTF32_LE, "utf-32"),
            (codecs.BOM_UTF32_BE, "utf-32"),
            (codecs.BOM_UTF8, "utf-8-sig"),
            (codecs.BOM_UTF16_LE, "utf-16"),
            (codecs.BOM_UTF16_BE, "utf-16"),
        ):
            if raw.startswith(bom):
                break
        else:
            encoding = "utf-8"
            if b"\x00" in raw:
                line = raw.count(b"\n", 0, raw.index(b"\x00")) + 1
                result.errors.append(
                    InputError(name, None, line, "binary file (NUL bytes), not YAML; skipped")
                )
                return None
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            result.errors.append(
                InputError(
                    name,
                    None,
                    line,
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); binary file? skipped",
                )
            )
            return None
    else:
        text = raw
        text = text.removeprefix("\ufeff")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        result.errors.append(
            InputError(name, None, line, "binary file (NUL bytes), not YAML; skipped")
        )
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def remember_text(name: str, text: str) -> None:
    _text_cache[name] = text
    _text_cache.move_to_end(name)
    while len(_text_cache) > _TEXT_CACHE_SIZE:
        _text_cache.popitem(last=False)


def cached_text(name: str) -> str | None:
    """The text `name` was read from: cached, or read again (stdin only from the cache)."""
    if name == STDIN_NAME:
        return _stdin_text
    text = _text_cache.get(name)
    if text is not None:
        _text_cache.move_to_end(name)
        return text
    scratch = LoadResult()
    try:
        with open(name, "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    text = decode(name, raw, scratch)
    if text is not None:
        remember_text(name, text)
    return text


def stdin_text() -> str | None:
    """The text read from stdin by the last load (fix writes its result to stdout)."""
    return _stdin_text
