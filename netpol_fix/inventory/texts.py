"""Parsing one text into documents: JSON with `json`, YAML node by node with libyaml,
resuming after a syntax error at the next `---`, Helm templates recognised, and the line of
a field found again on demand (for error messages).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from netpol_fix.inventory import doc_pieces, model_reuse
from netpol_fix.inventory.kinds import LoadResult, add_document
from netpol_fix.inventory.yaml_loader import (
    MAX_DEPTH,
    BaseLoader,
    DocumentTooComplex,
    Loader,
    construct,
)
from netpol_fix.model.objects import InputError

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


@dataclass
class _Loaded:
    """What one text added to a LoadResult, to add it again without parsing."""

    objects: list[Any]
    errors: list[InputError]
    notes: list[str]
    skipped: list[int] | None
    documents: int | None = None
    """How many YAML documents the text held, when it read without a syntax error (then
    its documents can be reused one by one, see doc_pieces.py); None otherwise."""


_reused: dict[tuple[str, str], _Loaded] | None = None
_latest: dict[str, tuple[str, _Loaded]] = {}
"""Per name, the text last read under it in reuse mode, and what it gave."""


def reuse_unchanged_texts() -> None:
    """From now on, a text read again under the same name gives the objects and errors it
    gave the first time, without parsing it again; a changed text parses only the
    documents that are not byte-identical to one of the text read before under that name
    (doc_pieces.py: the others are moved to their new document index and lines). `fix`
    analyses its edited texts again (fixes/rounds.py): most files of a repository are not
    edited, and most documents of an edited file are not. Objects are never changed after
    they are read (fixes copy what they patch), so sharing them is safe; the texts and
    objects stay in memory for the process (`fix` only)."""
    global _reused
    if _reused is None:
        _reused = {}
        _latest.clear()
        model_reuse.keep_parsed_models()


_Recorded = tuple[list[tuple[tuple[str, str], _Loaded]], dict[str, tuple[str, _Loaded]]]


def reused_of(names: set[str]) -> _Recorded | None:
    """What reuse_unchanged_texts recorded for texts of `names` (None when it is off): the
    texts and what they gave, and the last text per name (whose documents an edit of it
    reuses), for a reader in another process to send back."""
    if _reused is None:
        return None
    return ([(key, loaded) for key, loaded in _reused.items() if key[0] in names],
            {name: latest for name, latest in _latest.items() if name in names})


def reused_names() -> set[str]:
    """The names of the texts reuse_unchanged_texts recorded (empty when it is off): a
    text read again under one of them is most likely given from memory, not parsed."""
    return {name for name, _text in _reused} if _reused is not None else set()


def adopt_reused(recorded: _Recorded | None) -> None:
    """Record texts another process read while reuse_unchanged_texts was on."""
    if _reused is not None and recorded is not None:
        entries, latest = recorded
        _reused.update(entries)
        _latest.update(latest)


def load_text(name: str, text: str, result: LoadResult) -> None:
    """Parse one file's text into objects; any unexpected failure becomes an InputError."""
    if _reused is None:
        _load_text(name, text, result)
        return
    known = _reused.get((name, text))
    if known is not None:
        result.objects += known.objects
        result.errors += known.errors
        result.notes += known.notes
        if known.skipped is not None:
            result.skipped.setdefault(name, []).extend(known.skipped)
        _latest[name] = (text, known)
        return
    counts = len(result.objects), len(result.errors), len(result.notes)
    skipped_before = len(result.skipped.get(name, ()))
    previous = _latest.get(name)
    documents = None if previous is None else _reread(name, *previous, text, result)
    if documents is None:
        documents = _load_text(name, text, result)
    skipped = result.skipped.get(name)
    loaded = _Loaded(
        result.objects[counts[0]:], result.errors[counts[1]:], result.notes[counts[2]:],
        None if skipped is None else skipped[skipped_before:], documents)
    _reused[(name, text)] = loaded
    _latest[name] = (text, loaded)


def _reread(name: str, old: str, before: _Loaded, text: str, result: LoadResult) -> int | None:
    """Read `text`, an edit of `old` (which gave `before`), parsing only the documents
    that are not byte-identical to one of `old`'s, into `result`; the number of documents
    it holds. None, with `result` untouched, when that cannot be done exactly (then the
    whole text is read): a syntax error, directives, JSON, a template."""
    if before.documents is None or ("*" in old) != ("*" in text):
        return None  # (the alias budget is kept for a text with a `*`: same for both)
    try:
        if looks_like_json(text) or _template_line(text) is not None:
            return None
        old_cuts, cuts = doc_pieces.cut(old), doc_pieces.cut(text)
        if old_cuts is None or cuts is None:
            return None
        pieces = doc_pieces.pieces_of(old, old_cuts, before.documents, before.objects,
                                      before.errors, before.skipped or ())
        if pieces is None:
            return None
        read = LoadResult()
        aliases = "*" in text
        document = 0
        run: list[doc_pieces.Cut] = []  # pieces not read before, read together
        used: set[int] = set()  # a piece placed twice would share its objects' dicts

        def read_run() -> bool:
            nonlocal document
            sub = text[run[0].start:run[-1].end]
            count, syntax_errors = _load_yaml_documents(name, sub, read, aliases,
                                                        document, run[0].line)
            # a piece starting with `---` holds one document; the text's first, maybe none
            maybe_none = run[0].start == 0 and not text.startswith("---")
            expected = {len(run), len(run) - 1} if maybe_none else {len(run)}
            document += count
            run.clear()
            return not syntax_errors and count in expected

        for c in cuts:
            piece = pieces.get(text[c.start:c.end])
            if piece is None or id(piece) in used:
                run.append(c)
                continue
            used.add(id(piece))
            if run and not read_run():
                return None
            piece.place(document, c.line, read, name)
            if piece.document is not None:
                document += 1
        if run and not read_run():
            return None
    except Exception:  # noqa: BLE001 - the whole text is read instead, errors and all
        return None
    tab_line = _tab_line(text)
    if tab_line is not None:
        read.errors.append(_tab_warning(name, tab_line))
    result.extend(read)
    return document


def _load_text(name: str, text: str, result: LoadResult) -> int | None:
    """Read one text into `result`; the number of YAML documents it held when it read as
    YAML without a syntax error, else None."""
    try:
        json_error = None
        if looks_like_json(text):
            # Valid JSON is data, never a template, even when a string holds `{{ }}`.
            json_error = _load_json(name, text, result)
            if json_error is None:
                return None
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
            return None
        if json_error is not None and name.lower().endswith(".json"):
            result.errors.append(json_error)
            return None
        # Not JSON after all (a YAML flow mapping with trailing commas, say): read as YAML.
        return _load_yaml(name, text, result)
    except Exception as exc:  # noqa: BLE001 - no traceback may reach the user
        result.errors.append(
            InputError(name, None, None, f"cannot read ({type(exc).__name__}: {exc})")
        )
        return None


def _template_line(text: str) -> int | None:
    """Line of the first Go template action outside comments, or None."""
    if "{{" not in text:
        return None
    for number, line in enumerate(text.split("\n"), start=1):
        if "{{" in line and not line.lstrip().startswith("#") and _TEMPLATE_ACTION.search(line):
            return number
    return None


def looks_like_json(text: str) -> bool:
    start = _JSON_WS.match(text).end()  # type: ignore[union-attr]
    return text.startswith(("{", "["), start)


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


_json_decoder = json.JSONDecoder()


MAX_DOCUMENT_CHARS = 64 * 1024 * 1024
"""A document larger than this is refused unread (the API server takes requests of at
most 3 MiB; a `kind: List` of a whole cluster stays well below)."""


def _recursion_depth() -> int:
    """The interpreter's current recursion depth. Calls through C (click's callbacks)
    count without a Python frame, so frames undercount it; CPython names the exact depth
    when asked for a limit below it. Frames plus a margin if that text ever changes."""
    previous = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(1)
    except RecursionError as err:
        found = re.search(r"recursion depth (\d+)", str(err))
        if found:
            return int(found.group(1))
    finally:
        sys.setrecursionlimit(previous)
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1  # type: ignore[assignment]
    return depth + 64


def _decode_bounded(text: str, start: int) -> tuple[Any, int]:
    """json's raw_decode, nesting bounded by MAX_DEPTH: the C decoder takes one level of
    the recursion limit per nesting level, so the limit is set just above what MAX_DEPTH
    levels need, here (RecursionError when deeper), and restored after."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(_recursion_depth() + MAX_DEPTH)
    try:
        return _json_decoder.raw_decode(text, start)
    finally:
        sys.setrecursionlimit(previous)


def _load_json(name: str, text: str, result: LoadResult) -> InputError | None:
    """Read a JSON text as one document; return the parse error instead of adding it."""
    start = _JSON_WS.match(text).end()  # type: ignore[union-attr]
    if len(text) > MAX_DOCUMENT_CHARS:
        return InputError(name, 0, _line_at(text, start), (
            f"JSON document of {len(text):,} characters; at most {MAX_DOCUMENT_CHARS:,} are "
            "read (a Kubernetes object is at most a few MB); split it"))
    try:
        data, end = _decode_bounded(text, start)
    except json.JSONDecodeError as exc:
        return InputError(name, 0, exc.lineno, f"JSON syntax error: {exc.msg} (column {exc.colno})")
    except RecursionError:
        return InputError(name, 0, _line_at(text, start),
                          f"nested deeper than {MAX_DEPTH} levels; refused")
    end = _JSON_WS.match(text, end).end()  # type: ignore[union-attr]
    if end != len(text):
        return InputError(
            name, 0, _line_at(text, end), "JSON syntax error: extra data after the first value"
        )
    line = _line_at(text, start)

    def item_lines() -> list[int]:
        found = _json_find(text, ["items"])
        if found is None:
            return []
        return [_line_at(text, offset) for offset in _json_array_offsets(text, found[1])]

    add_document(name, 0, line, data, result, item_lines)
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


def json_locate(text: str, steps: Sequence[str | int]) -> int | None:
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
            loader = Loader(chunk)
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
        if BaseLoader is not yaml.SafeLoader:
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
    if "maximum nesting depth" in message:
        message += f" (documents may nest at most {MAX_DEPTH} levels)"
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


def _load_yaml(name: str, text: str, result: LoadResult) -> int | None:
    """Read a YAML stream; the number of documents it held, None after a syntax error."""
    documents, syntax_errors = _load_yaml_documents(name, text, result, "*" in text)
    if syntax_errors:
        return None
    tab_line = _tab_line(text)
    if tab_line is not None:
        result.errors.append(_tab_warning(name, tab_line))
    return documents


def _tab_warning(name: str, line: int) -> InputError:
    return InputError(
        name,
        None,
        line,
        "tab character used as whitespace: libyaml and kubectl accept it here, "
        "but other YAML tools reject it (indent with spaces)",
        severity="warning",
    )


def _load_yaml_documents(name: str, text: str, result: LoadResult, aliases: bool,
                         first: int = 0, line_shift: int = 0) -> tuple[int, bool]:
    """Read the documents of `text` into `result`, numbered from `first`, lines shifted by
    `line_shift` (`text` is a part of a file starting at that 0-based line); `aliases`:
    whether the file holds a `*`. Returns (documents read, whether a syntax error was)."""
    syntax_errors = False
    documents = 0
    for doc in _iter_yaml_documents(text):
        documents += 1
        index = doc.index + first
        if isinstance(doc, _YamlDocError):
            result.errors.append(InputError(
                name, index, None if doc.line is None else doc.line + line_shift,
                doc.message))
            syntax_errors = True
            continue
        node = doc.node
        shift = doc.line_offset + line_shift
        line = node.start_mark.line + shift + 1
        size = node.end_mark.index - node.start_mark.index
        if size > MAX_DOCUMENT_CHARS:
            result.errors.append(InputError(name, index, line, (
                f"document of {size:,} characters; at most {MAX_DOCUMENT_CHARS:,} are read "
                "(a Kubernetes object is at most a few MB); split it")))
            continue
        try:
            data = construct(doc.loader, node, aliases)
        except DocumentTooComplex as exc:
            _reset_constructor(doc.loader)
            err_line = exc.line + shift + 1 if exc.line is not None else line
            result.errors.append(InputError(name, index, err_line, str(exc)))
            continue
        except yaml.YAMLError as exc:
            _reset_constructor(doc.loader)
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            err_line = mark.line + shift + 1 if mark is not None else line
            problem = getattr(exc, "problem", None) or str(exc)
            result.errors.append(InputError(name, index, err_line, f"invalid YAML: {problem}"))
            continue
        except (RecursionError, ValueError, TypeError, OverflowError) as exc:
            _reset_constructor(doc.loader)
            result.errors.append(InputError(name, index, line, f"invalid YAML: {exc}"))
            continue

        def item_lines(node: yaml.Node = node, shift: int = shift) -> list[int]:
            items = _mapping_value(node, "items")
            if not isinstance(items, yaml.SequenceNode):
                return []
            return [item.start_mark.line + shift + 1 for item in items.value]

        add_document(name, index, line, data, result, item_lines)
    return documents, syntax_errors


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


def yaml_locate(text: str, document: int, steps: Sequence[str | int]) -> int | None:
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
