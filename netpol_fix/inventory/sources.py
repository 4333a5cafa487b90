"""Read SOURCES (files, directories, stdin) into SourceObjects, reporting bad input.

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

import codecs
import functools
import gc
import json
import os
import re
import sys
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import yaml

from netpol_fix.model.objects import InputError, Location, SourceObject

__all__ = [
    "MANIFEST_SUFFIXES",
    "STDIN_NAME",
    "LoadResult",
    "clear_text_cache",
    "load_bytes",
    "load_sources",
    "locate_line",
]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN_NAME = "<stdin>"

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader that keeps timestamps as strings.

    Kubernetes reads YAML as JSON, where `2024-01-01` is a string; a `datetime` here would
    later break JSON output and JSON patches.
    """

    # Tag resolution runs regular expressions in Python for every scalar, and the C
    # composer calls it for every node; field names and values repeat a lot. The answer
    # depends only on the arguments (no path resolvers are registered), so it is memoised
    # in a C-level cache the composer calls directly: composing is about twice as fast as
    # without a cache, and a tenth faster than with a Python-level one.
    resolve = staticmethod(functools.lru_cache(maxsize=100_000)(
        functools.partial(yaml.resolver.Resolver.resolve, yaml.resolver.Resolver())))

    if not yaml.resolver.Resolver.yaml_path_resolvers:
        # Without path resolvers there is no path to track, yet the composer calls these
        # for every node: C built-ins taking the same arguments, whose results it ignores,
        # cost a fraction of a Python call.
        descend_resolver = staticmethod(slice)  # (parent node, index)
        ascend_resolver = staticmethod(tuple)  # ()


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)

_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_PLAIN_KEY_TAGS = frozenset((_INT_TAG, _BOOL_TAG, _NULL_TAG, _FLOAT_TAG))


class _NeedsFullConstructor(Exception):
    """Raised by the fast path for anything unusual (merge keys, custom tags, cycles)."""


def _construct(loader: Any, node: yaml.Node) -> Any:
    """Build a document's data, fast for plain Kubernetes YAML, exact for everything else.

    PyYAML's constructor is generic and slow (a third of the load time); manifests are
    almost always plain mappings, sequences and standard scalars, which this builds directly.
    Anything else goes through PyYAML so results never differ.
    """
    try:
        return _fast_construct(loader, node, set())
    except (_NeedsFullConstructor, RecursionError):
        return loader.construct_document(node)


def _fast_construct(loader: Any, node: yaml.Node, path: set[int]) -> Any:
    tag = node.tag
    if isinstance(node, yaml.ScalarNode):
        if tag == _STR_TAG or tag == _TIMESTAMP_TAG:
            return node.value
        if tag == _NULL_TAG:
            return None
        if tag == _BOOL_TAG:
            return loader.construct_yaml_bool(node)
        if tag == _INT_TAG:
            return loader.construct_yaml_int(node)
        if tag == _FLOAT_TAG:
            return loader.construct_yaml_float(node)
        raise _NeedsFullConstructor
    if id(node) in path:
        raise _NeedsFullConstructor  # a recursive alias
    path.add(id(node))
    try:
        if isinstance(node, yaml.MappingNode) and tag == _MAP_TAG:
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _STR_TAG and type(key_node) is yaml.ScalarNode:
                    key = key_node.value
                elif type(key_node) is yaml.ScalarNode and key_node.tag in _PLAIN_KEY_TAGS:
                    key = _fast_construct(loader, key_node, path)
                else:
                    raise _NeedsFullConstructor  # merge keys `<<`, complex keys
                # Inline the commonest value, a string, to save a call per field.
                if value_node.tag == _STR_TAG and type(value_node) is yaml.ScalarNode:
                    result[key] = value_node.value
                else:
                    result[key] = _fast_construct(loader, value_node, path)
            return result
        if isinstance(node, yaml.SequenceNode) and tag == _SEQ_TAG:
            return [_fast_construct(loader, item, path) for item in node.value]
        raise _NeedsFullConstructor
    finally:
        path.discard(id(node))


# Go template actions that only a template (Helm chart, cilium-cli manifest) contains. Plain
# `{{ $labels.x }}` / `{{ printf ... }}` are left alone: Prometheus rules and alert texts
# legitimately hold those inside strings.
_TEMPLATE_ACTION = re.compile(
    r"\{\{-?\s*(?:\.|/\*|\$\w*\s*:?=|"
    r"(?:if|else|end|range|with|define|template|include|block|tpl|toYaml|toJson|required|"
    r"default|quote|trimSuffix|trimPrefix|lookup|indent|nindent)\b)"
)
_DOC_SEPARATOR = re.compile(r"^---(?=[ \t]|$)", re.MULTILINE)
_JSON_WS = re.compile(r"[ \t\n\r]*")
_SCANNER_NO_TOKEN = re.compile(r"found character (.+?) that cannot start any token")
_TAB_WHITESPACE = re.compile(r"^ *\t|\S[ \t]*\t[ \t]*(?:#.*)?$")

_TEXT_CACHE_SIZE = 32
_text_cache: OrderedDict[str, str] = OrderedDict()
_stdin_text: str | None = None


@dataclass
class LoadResult:
    """What the sources held: the objects, and every input problem (errors and warnings)."""

    objects: list[SourceObject] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def load_sources(sources: Sequence[str], stdin: TextIO | None = None,
                 overrides: Mapping[str, str] | None = None) -> LoadResult:
    """Read every source in order; never raises for bad input.

    Problems become InputErrors and reading goes on with the next document or file, so one
    bad file costs the user only that file's (or document's) findings. `overrides` gives
    texts to read instead of some files (by path as listed, or `<stdin>`): `fix` analyses
    its own edits again before writing them.
    """
    # The cyclic garbage collector rescans the growing heap of parsed objects again and
    # again (it is allocation-triggered); parsing creates no cycles worth collecting, and
    # pausing it makes loading large inputs about 40% faster.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_sources(sources, stdin, overrides or {})
    finally:
        if gc_was_enabled:
            gc.enable()


def _load_sources(sources: Sequence[str], stdin: TextIO | None,
                  overrides: Mapping[str, str]) -> LoadResult:
    result = LoadResult()
    seen: set[str] = set()
    for source in sources:
        if source == "-":
            if STDIN_NAME in seen:
                continue
            seen.add(STDIN_NAME)
            if STDIN_NAME in overrides:
                _load_text(STDIN_NAME, overrides[STDIN_NAME], result)
            else:
                _load_stdin(stdin if stdin is not None else sys.stdin, result)
            continue
        for path in _expand_source(source, result):
            key = _identity(path)
            if key in seen:
                continue
            seen.add(key)
            if path in overrides:
                text = _decode(path, overrides[path], result)
                if text is not None:
                    _remember_text(path, text)
                    _load_text(path, text, result)
                continue
            _load_path(path, result)
    return result


def load_bytes(name: str, raw: bytes, result: LoadResult) -> None:
    """Read one manifest file's bytes that come from somewhere other than the file system
    (a git blob), under `name`, exactly as a file with that content would be read.

    The text is cached under `name`, so `locate_line` finds field lines for its errors.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        text = _decode(name, raw, result)
        if text is not None:
            _remember_text(name, text)
            _load_text(name, text, result)
    finally:
        if gc_was_enabled:
            gc.enable()


def locate_line(source: SourceObject, path: Sequence[str | int]) -> int | None:
    """Return the 1-based line of the field at `path` inside `source`, or None if unknown.

    Only errors need this (a bad CIDR should name its own line), so the document is re-read
    on demand instead of keeping marks for every node of every object.
    """
    loc = source.location
    if loc is None:
        return None
    try:
        text = _cached_text(loc.file)
        if text is None:
            return None
        steps: list[str | int] = list(path)
        if source.item_index is not None:
            steps = ["items", source.item_index, *steps]
        if _looks_like_json(text):
            try:
                offset = _json_locate(text, steps)
            except (ValueError, IndexError):
                offset = None
            if offset is not None:
                return text.count("\n", 0, offset) + 1
        return _yaml_locate(text, loc.document, steps)
    except Exception:  # noqa: BLE001 - a line number is a nicety; never fail an error report
        return None


def clear_text_cache() -> None:
    """Forget cached file texts (tests, or a long-running caller that edited files)."""
    global _stdin_text
    _text_cache.clear()
    _stdin_text = None


# ---------------------------------------------------------------------------------------------
# Finding and reading files
# ---------------------------------------------------------------------------------------------


def _expand_source(source: str, result: LoadResult) -> list[str]:
    """Turn one SOURCES argument into the files to read (an explicit file whatever its name)."""
    if os.path.isdir(source):
        files = _manifest_files(source)
        if not files:
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


def _manifest_files(directory: str) -> list[str]:
    """Manifest files under `directory`, recursively, sorted; hidden files and dirs skipped.

    Hidden entries are skipped because they are tool state (`.git`, `.github`) or config
    (`.netpol-fix.yaml`), never manifests to analyse.
    """
    found: list[tuple[tuple[str, ...], str]] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel_root = os.path.relpath(root, directory)
        rel_parts = () if rel_root == os.curdir else tuple(rel_root.split(os.sep))
        for name in files:
            if name.startswith(".") or not name.lower().endswith(MANIFEST_SUFFIXES):
                continue
            found.append(((*rel_parts, name), os.path.join(root, name)))
    found.sort()
    return [path for _, path in found]


def _identity(path: str) -> str:
    """A key that is equal for two spellings of the same file, so it is read once."""
    try:
        return os.path.realpath(path)
    except OSError:
        return path


def _load_stdin(stream: TextIO, result: LoadResult) -> None:
    global _stdin_text
    try:
        buffer = getattr(stream, "buffer", None)
        raw: bytes | str = buffer.read() if buffer is not None else stream.read()
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        result.errors.append(InputError(STDIN_NAME, None, None, f"cannot read stdin: {exc}"))
        return
    text = _decode(STDIN_NAME, raw, result)
    if text is None:
        return
    _stdin_text = _as_given(raw, text)
    _load_text(STDIN_NAME, text, result)


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


def _load_path(path: str, result: LoadResult) -> None:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        result.errors.append(InputError(path, None, None, f"cannot read: {exc.strerror or exc}"))
        return
    text = _decode(path, raw, result)
    if text is None:
        return
    _remember_text(path, text)
    _load_text(path, text, result)


def _decode(name: str, raw: bytes | str, result: LoadResult) -> str | None:
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


def _remember_text(name: str, text: str) -> None:
    _text_cache[name] = text
    _text_cache.move_to_end(name)
    while len(_text_cache) > _TEXT_CACHE_SIZE:
        _text_cache.popitem(last=False)


def _cached_text(name: str) -> str | None:
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
    text = _decode(name, raw, scratch)
    if text is not None:
        _remember_text(name, text)
    return text


# ---------------------------------------------------------------------------------------------
# Parsing one text
# ---------------------------------------------------------------------------------------------


def _load_text(name: str, text: str, result: LoadResult) -> None:
    """Parse one file's text into objects; any unexpected failure becomes an InputError."""
    try:
        json_error = None
        if _looks_like_json(text):
            # Valid JSON is data, never a template, even when a string holds `{{ }}`.
            json_error = _load_json(name, text, result)
            if json_error is None:
                return
        template_line = _template_line(text)
        if template_line is not None:
            result.errors.append(
                InputError(
                    name,
                    None,
                    template_line,
                    "looks like a Helm/Go template; render it first (helm template)",
                )
            )
            return
        if json_error is not None and name.lower().endswith(".json"):
            result.errors.append(json_error)
            return
        # Not JSON after all (a YAML flow mapping with trailing commas, say): read as YAML.
        _load_yaml(name, text, result)
    except Exception as exc:  # noqa: BLE001 - no traceback may reach the user
        result.errors.append(
            InputError(name, None, None, f"cannot read ({type(exc).__name__}: {exc})")
        )


def _template_line(text: str) -> int | None:
    """Line of the first Go template action outside comments, or None."""
    if "{{" not in text:
        return None
    for number, line in enumerate(text.split("\n"), start=1):
        if "{{" in line and not line.lstrip().startswith("#") and _TEMPLATE_ACTION.search(line):
            return number
    return None


def _looks_like_json(text: str) -> bool:
    start = _JSON_WS.match(text).end()  # type: ignore[union-attr]
    return text.startswith(("{", "["), start)


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


# --- JSON ------------------------------------------------------------------------------------

_json_decoder = json.JSONDecoder()


def _load_json(name: str, text: str, result: LoadResult) -> InputError | None:
    """Read a JSON text as one document; return the parse error instead of adding it."""
    start = _JSON_WS.match(text).end()  # type: ignore[union-attr]
    try:
        data, end = _json_decoder.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        return InputError(name, 0, exc.lineno, f"JSON syntax error: {exc.msg} (column {exc.colno})")
    end = _JSON_WS.match(text, end).end()  # type: ignore[union-attr]
    if end != len(text):
        return InputError(
            name, 0, _line_at(text, end), "JSON syntax error: extra data after the first value"
        )
    line = _line_at(text, start)
    if isinstance(data, list) or (
        isinstance(data, dict) and "kind" not in data and "apiVersion" not in data
    ):
        result.errors.append(
            InputError(name, 0, line, "not a Kubernetes object; skipped", severity="warning")
        )
        return None

    def item_lines() -> list[int]:
        found = _json_find(text, ["items"])
        if found is None:
            return []
        return [_line_at(text, offset) for offset in _json_array_offsets(text, found[1])]

    _add_document(name, 0, line, data, result, item_lines)
    return None


def _json_skip_ws(text: str, index: int) -> int:
    return _JSON_WS.match(text, index).end()  # type: ignore[union-attr]


def _json_array_offsets(text: str, index: int) -> list[int]:
    """Start offsets of the elements of the JSON array starting at `index`."""
    if not text.startswith("[", index):
        return []
    offsets: list[int] = []
    index = _json_skip_ws(text, index + 1)
    if text.startswith("]", index):
        return offsets
    while True:
        offsets.append(index)
        _, index = _json_decoder.raw_decode(text, index)
        index = _json_skip_ws(text, index)
        if not text.startswith(",", index):
            return offsets
        index = _json_skip_ws(text, index + 1)


def _json_locate(text: str, steps: Sequence[str | int]) -> int | None:
    """Offset of the member key (objects) or element (arrays) at `steps` in a JSON text."""
    found = _json_find(text, steps)
    return None if found is None else found[0]


def _json_find(text: str, steps: Sequence[str | int]) -> tuple[int, int] | None:
    """(offset of the key or element, offset of its value) at `steps` in a JSON text.

    Walks the text with json's own decoder to skip values, so offsets are exact (YAML would
    reject the tabs JSON allows).
    """
    index = _json_skip_ws(text, 0)
    found = index
    for step in steps:
        if text.startswith("{", index):
            if isinstance(step, int):
                step = str(step)
            index = _json_skip_ws(text, index + 1)
            target = None
            while text.startswith('"', index):
                key, after_key = _json_decoder.raw_decode(text, index)
                value_at = _json_skip_ws(text, _json_skip_ws(text, after_key) + 1)
                if key == step:
                    target = (index, value_at)  # the last duplicate wins, as in json.loads
                _, index = _json_decoder.raw_decode(text, value_at)
                index = _json_skip_ws(text, index)
                if text.startswith(",", index):
                    index = _json_skip_ws(text, index + 1)
            if target is None:
                return None
            found, index = target
        elif text.startswith("[", index):
            if not isinstance(step, int) or step < 0:
                return None
            offsets = _json_array_offsets(text, index)
            if step >= len(offsets):
                return None
            found = index = offsets[step]
        else:
            return None
    return found, index


# --- YAML ------------------------------------------------------------------------------------


@dataclass
class _YamlDoc:
    index: int
    node: yaml.Node
    loader: Any
    line_offset: int


@dataclass
class _YamlDocError:
    index: int
    line: int | None
    message: str


def _iter_yaml_documents(text: str) -> Iterator[_YamlDoc | _YamlDocError]:
    """Compose documents one by one; after a syntax error resume at the next `---` line.

    Documents are numbered as PyYAML's `load_all` numbers them (empty ones included); the
    document that failed keeps its number and the next one after the `---` gets the next.
    """
    offset_chars = 0
    offset_lines = 0
    base_index = 0
    while True:
        chunk = text[offset_chars:] if offset_chars else text
        count = 0
        error: Exception | None = None
        loader = None
        try:
            loader = _Loader(chunk)
            while loader.check_node():
                node = loader.get_node()
                yield _YamlDoc(base_index + count, node, loader, offset_lines)
                count += 1
        except yaml.YAMLError as exc:
            error = exc
        finally:
            if loader is not None:
                try:
                    loader.dispose()
                except Exception:  # noqa: BLE001, S110 - freeing parser memory is best effort
                    pass
        if error is None:
            return
        failed_index = base_index + count
        err_line = _error_line(error, chunk)  # 0-based, relative to the chunk
        yield _YamlDocError(
            failed_index,
            None if err_line is None else err_line + offset_lines + 1,
            _syntax_message(error, chunk, err_line, offset_lines),
        )
        # Resume at the first `---` line at or after the error (and after the chunk start).
        resume_from = max(1, err_line if err_line is not None else 1)
        resume = _separator_at_or_after(chunk, resume_from)
        if resume is None:
            return
        char_pos, line_pos = resume
        offset_chars += char_pos
        offset_lines += line_pos
        base_index = failed_index + 1


def _separator_at_or_after(chunk: str, line: int) -> tuple[int, int] | None:
    """(char offset, line index) of the first `---` line whose 0-based index is >= `line`."""
    pos = 0
    for _ in range(line):
        nl = chunk.find("\n", pos)
        if nl < 0:
            return None
        pos = nl + 1
    match = _DOC_SEPARATOR.search(chunk, pos)
    if match is None:
        return None
    return match.start(), chunk.count("\n", 0, match.start())


def _error_line(error: Exception, chunk: str) -> int | None:
    """0-based line of a YAML error inside `chunk`, from its mark or reader position."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None:
        return int(mark.line)
    position = getattr(error, "position", None)
    if isinstance(position, int):
        # libyaml reports reader positions in bytes of the UTF-8 encoding, Python in chars.
        if _BaseLoader is not yaml.SafeLoader:
            prefix = chunk.encode("utf-8")[:position]
            return prefix.count(b"\n")
        return chunk.count("\n", 0, position)
    return None


def _syntax_message(error: Exception, chunk: str, line: int | None, line_shift: int) -> str:
    """A one-line message in the parser's words, with a hint for tabs and templates."""
    mark = getattr(error, "problem_mark", None)
    offending = None
    lines = chunk.split("\n", line + 1) if line is not None else []
    if (
        mark is not None
        and line is not None
        and line < len(lines)
        and 0 <= mark.column < len(lines[line])
    ):
        offending = lines[line][mark.column]
    if isinstance(error, yaml.MarkedYAMLError):
        parts = [p for p in (error.context, error.problem) if p]
        message = ", ".join(parts) if parts else "syntax error"
    elif isinstance(error, yaml.reader.ReaderError):
        character = error.character
        code = ord(character) if isinstance(character, str) else character
        message = f"unacceptable character #x{code:04x}: {error.reason}"
    else:
        message = str(error).replace("\n", " ")
    # libyaml says "found character that cannot start any token", PyYAML names the character.
    message = _SCANNER_NO_TOKEN.sub("found character that cannot start any token", message)
    if "cannot start any token" in message and offending is not None:
        message += f" ({offending!r})"
    if mark is not None:
        message += f" (column {mark.column + 1})"
        context_mark = getattr(error, "context_mark", None)
        if context_mark is not None and context_mark.line != mark.line:
            message += f"; the construct started on line {context_mark.line + 1 + line_shift}"
    text = f"YAML syntax error: {message}"
    if offending == "\t" or "'\\t'" in message:
        text = "tab character where YAML forbids it (indent with spaces); " + text
    if line is not None and line < len(lines) and "{{" in lines[line]:
        text += "; the line holds a Go template action: render templates first"
    return text


def _tab_line(text: str) -> int | None:
    """First line with a tab in leading or trailing whitespace (before a comment), or None.

    libyaml (and kubectl) accept such tabs, but PyYAML without libyaml and other tools do
    not, so the user hears about them as a warning.
    """
    if "\t" not in text:
        return None
    for number, line in enumerate(text.split("\n"), start=1):
        if "\t" in line and _TAB_WHITESPACE.search(line):
            return number
    return None


def _load_yaml(name: str, text: str, result: LoadResult) -> None:
    syntax_errors = False
    for doc in _iter_yaml_documents(text):
        if isinstance(doc, _YamlDocError):
            result.errors.append(InputError(name, doc.index, doc.line, doc.message))
            syntax_errors = True
            continue
        node = doc.node
        line = node.start_mark.line + doc.line_offset + 1
        try:
            data = _construct(doc.loader, node)
        except yaml.YAMLError as exc:
            _reset_constructor(doc.loader)
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            err_line = mark.line + doc.line_offset + 1 if mark is not None else line
            problem = getattr(exc, "problem", None) or str(exc)
            result.errors.append(InputError(name, doc.index, err_line, f"invalid YAML: {problem}"))
            continue
        except (RecursionError, ValueError, TypeError, OverflowError) as exc:
            _reset_constructor(doc.loader)
            result.errors.append(InputError(name, doc.index, line, f"invalid YAML: {exc}"))
            continue

        def item_lines(node: yaml.Node = node, shift: int = doc.line_offset) -> list[int]:
            items = _mapping_value(node, "items")
            if not isinstance(items, yaml.SequenceNode):
                return []
            return [item.start_mark.line + shift + 1 for item in items.value]

        _add_document(name, doc.index, line, data, result, item_lines)
    tab_line = None if syntax_errors else _tab_line(text)
    if tab_line is not None:
        result.errors.append(
            InputError(
                name,
                None,
                tab_line,
                "tab character used as whitespace: libyaml and kubectl accept it here, "
                "but other YAML tools reject it (indent with spaces)",
                severity="warning",
            )
        )


def _reset_constructor(loader: Any) -> None:
    """Undo what an interrupted construct_document leaves behind, so the next doc is clean."""
    loader.constructed_objects = {}
    loader.recursive_objects = {}
    loader.state_generators = []
    loader.deep_construct = False


def _mapping_value(node: yaml.Node, key: str) -> yaml.Node | None:
    """The value node of `key` in a mapping node (merge keys `<<` followed), or None."""
    if not isinstance(node, yaml.MappingNode):
        return None
    found = None
    merges: list[yaml.Node] = []
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            if key_node.value == key and key_node.tag != "tag:yaml.org,2002:merge":
                found = (key_node, value_node)
            elif key_node.tag == "tag:yaml.org,2002:merge" or key_node.value == "<<":
                merges.append(value_node)
    if found is not None:
        return found[1]
    for merged in merges:
        candidates = merged.value if isinstance(merged, yaml.SequenceNode) else [merged]
        for candidate in candidates:
            value = _mapping_value(candidate, key)
            if value is not None:
                return value
    return None


def _mapping_key(node: yaml.Node, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """(key node, value node) of `key` in a mapping node, following merge keys."""
    if not isinstance(node, yaml.MappingNode):
        return None
    found = None
    for key_node, value_node in node.value:
        if (
            isinstance(key_node, yaml.ScalarNode)
            and key_node.value == key
            and key_node.tag != "tag:yaml.org,2002:merge"
        ):
            found = (key_node, value_node)
    if found is not None:
        return found
    value = _mapping_value(node, key)
    return (value, value) if value is not None else None


def _yaml_locate(text: str, document: int, steps: Sequence[str | int]) -> int | None:
    """Line of `steps` inside YAML document number `document` of `text` (composed again)."""
    for doc in _iter_yaml_documents(text):
        if doc.index < document:
            continue
        if doc.index > document or isinstance(doc, _YamlDocError):
            return None
        node: yaml.Node = doc.node
        line = node.start_mark.line
        for step in steps:
            if isinstance(node, yaml.SequenceNode):
                if not isinstance(step, int) or not 0 <= step < len(node.value):
                    return None
                node = node.value[step]
                line = node.start_mark.line
            elif isinstance(node, yaml.MappingNode):
                pair = _mapping_key(node, str(step))
                if pair is None:
                    return None
                line = pair[0].start_mark.line
                node = pair[1]
            else:
                return None
        return line + doc.line_offset + 1
    return None


# --- Documents to objects --------------------------------------------------------------------


def _add_document(
    name: str,
    index: int,
    line: int,
    data: Any,
    result: LoadResult,
    item_lines: Any,
) -> None:
    """Check one parsed document and add its object, or each item of a list, to `result`.

    `item_lines` is a callable giving the item lines; it is only called for lists, so the
    common case pays nothing for it.
    """
    if data is None:
        return  # an empty document: `---` followed by nothing, or only comments
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__} scalar"
        result.errors.append(
            InputError(name, index, line, f"not a Kubernetes object (a mapping) but {kind}")
        )
        return
    problem = _missing_fields(data)
    if problem:
        result.errors.append(InputError(name, index, line, problem))
        return
    kind = data["kind"]
    if not (kind.endswith("List") and "items" in data):
        result.objects.append(SourceObject(data, Location(name, index, line)))
        return
    items = data["items"]
    if items is None:
        return
    if not isinstance(items, list):
        result.errors.append(
            InputError(name, index, line, f"`items` of a {kind} must be a list of objects")
        )
        return
    lines = item_lines() if items else []
    item_kind = kind[: -len("List")] if kind != "List" else None
    for position, item in enumerate(items):
        item_line = lines[position] if position < len(lines) else line
        if item is None:
            continue
        if not isinstance(item, dict):
            result.errors.append(
                InputError(name, index, item_line, f"item {position} of {kind} is not an object")
            )
            continue
        if item_kind:
            if "kind" not in item:
                item = {**item, "kind": item_kind}
            if "apiVersion" not in item and isinstance(data.get("apiVersion"), str):
                item = {**item, "apiVersion": data["apiVersion"]}
        problem = _missing_fields(item)
        if problem:
            result.errors.append(
                InputError(name, index, item_line, f"item {position} of {kind} {problem}")
            )
            continue
        result.objects.append(
            SourceObject(item, Location(name, index, item_line), item_index=position)
        )


def _missing_fields(obj: dict[str, Any]) -> str | None:
    """Why `obj` is not a Kubernetes object, or None if it has `kind` and `apiVersion`."""
    for key in ("kind", "apiVersion"):
        value = obj.get(key)
        if value is None or value == "":
            return f"is missing `{key}`"
        if not isinstance(value, str):
            return f"has a `{key}` that is not a string"
    return None


def stdin_text() -> str | None:
    """The text read from stdin by the last load (fix writes its result to stdout)."""
    return _stdin_text
