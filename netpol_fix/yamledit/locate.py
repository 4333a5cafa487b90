"""A node tree with character positions, built from libyaml's composed nodes or events.

Why not always the composed nodes: the composer resolves an alias to its anchored node and
keeps neither anchor names nor explicit tags (every alias gets its own node and marks
here). So a document whose text holds none of ``& * !`` (no anchor, alias or tag can be
in it) is read through libyaml's composer, which also gives its data (one parse for both,
and the composer builds nodes in C: a third of the cost of a Python loop over the events);
any other text, one the composer refuses, or one parse_tree refuses (a template expression
in a plain scalar, a collection as a key) goes through the C parser's event stream, which
reports every refusal with its line. ``mark.index`` is a character offset into the str
that was parsed, in both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from netpol_fix.yamldata import DocumentTooComplex, compose_single, construct, load_single
from netpol_fix.yamledit.errors import EditError

SCALAR = "scalar"
MAPPING = "mapping"
SEQUENCE = "sequence"
ALIAS = "alias"


@dataclass(eq=False, slots=True)
class Node:
    """One YAML node with its span in the parsed text.

    ``start``/``end`` come from the parser. For block collections ``end`` lies after any
    trailing comments, which is why ``content_end`` is computed from the last child.
    """

    kind: str
    start: int
    end: int
    flow: bool = False
    style: str | None = None  # scalar style: "" plain, "'", '"', "|", ">"
    value: str | None = None  # scalar text
    anchor: str | None = None
    tag: str | None = None
    items: list[Node] = field(default_factory=list)  # sequence items
    pairs: list[tuple[Node, Node]] = field(default_factory=list)  # mapping pairs
    parent: Node | None = None

    @property
    def is_collection(self) -> bool:
        return self.kind in (MAPPING, SEQUENCE)

    def is_empty_null(self) -> bool:
        """An empty plain scalar (``key:`` with nothing after it)."""
        return self.kind == SCALAR and self.style == "" and self.value == "" and self.tag is None

    def children(self) -> list[Node]:
        if self.kind == SEQUENCE:
            return list(self.items)
        if self.kind == MAPPING:
            return [n for pair in self.pairs for n in pair]
        return []


@dataclass
class Tree:
    """The parsed document: its root node and the text it was parsed from."""

    text: str
    root: Node | None

    def release(self) -> None:
        """Drop the parent links of a tree no longer used. Each link is a reference cycle
        (child -> parent -> child), so an edited document's tree would otherwise wait for
        the cyclic garbage collector, whose collections then walk those nodes: `fix` on
        issue 16's broken tree spent a third of its editing time there. Without the links
        reference counting frees the nodes at once. Only for a tree whose nodes nobody
        asks for their parent any more."""
        stack = [self.root] if self.root is not None else []
        while stack:
            node = stack.pop()
            node.parent = None
            if node.kind == MAPPING:
                for key, value in node.pairs:
                    key.parent = None
                    stack.append(value)
            elif node.kind == SEQUENCE:
                stack.extend(node.items)


def content_end(node: Node, text: str) -> int:
    """Offset just past the node's last meaningful character.

    Block collections: the content end of the last child (their parser end mark points past
    trailing comments). Block scalars: the end mark without the trailing line breaks.
    """
    if node.kind == SEQUENCE and not node.flow and node.items:
        return content_end(node.items[-1], text)
    if node.kind == MAPPING and not node.flow and node.pairs:
        key, value = node.pairs[-1]
        return max(content_end(value, text), key.end)
    if node.kind == SCALAR and node.style in ("|", ">"):
        end = node.end
        while end > node.start and text[end - 1] in " \r\n":
            end -= 1
        return end
    return node.end


def line_number(text: str, pos: int) -> int:
    """1-based line number of ``pos`` in ``text``."""
    return text.count("\n", 0, pos) + 1


def parse_tree(text: str, base_line: int = 0) -> Tree:
    """Parse ``text`` (exactly one YAML document) into a position tree.

    Raises EditError when the text does not parse, holds other than one document, or
    contains signs of a template (``{{``/``}}`` in a plain scalar, collection keys).
    ``base_line`` is added to reported line numbers so messages point into the file.
    """
    composed = _composed(text)
    if composed is not None:
        loader, node = composed
        try:
            tree = _tree_of(text, node)
        finally:
            loader.dispose()
        if tree is not None:
            return tree
    return _event_tree(text, base_line)


def parse_document(text: str, base_line: int = 0) -> tuple[Tree, Any]:
    """``parse_tree`` and the document's data (as netpol_fix.yamldata constructs it, the
    constructor every read-back uses), from one parse where the text allows it.

    Raises EditError as parse_tree does, and when the data cannot be built."""
    composed = _composed(text)
    if composed is not None:
        loader, node = composed
        try:
            tree = _tree_of(text, node)
            if tree is not None:
                return tree, construct(loader, node, aliases=False)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):
            pass  # the exact path below raises the error with its message
        finally:
            loader.dispose()
    tree = _event_tree(text, base_line)
    return tree, load_data(text, base_line)


def load_data(text: str, base_line: int = 0, what: str = "document") -> Any:
    """The data of the one document of ``text`` through netpol_fix.yamldata; EditError
    when it does not parse, holds more than one document or is too complex to read."""
    try:
        return load_single(text)
    except DocumentTooComplex as exc:
        line = "" if exc.line is None else f"line {base_line + exc.line + 1}: "
        raise EditError(f"{line}{exc}") from exc
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        raise EditError(f"the {what} does not read as YAML data ({exc})".replace("\n", " ")) \
            from exc


_NOT_COMPOSED = re.compile(r"[&*!]")
"""Text the composed nodes may not describe fully: anchors, aliases, tags (which the
composer resolves away)."""


class _Irregular(Exception):
    """A composed document parse_tree would refuse (a collection as a mapping key, a
    template expression in a plain scalar): the event path refuses it with its line."""


def _composed(text: str) -> tuple[Any, yaml.Node] | None:
    """libyaml's loader and the composed root of ``text``, when the text may be read that
    way and composes as exactly one document; else None (the event path decides)."""
    if _NOT_COMPOSED.search(text):
        return None
    try:
        loader, node = compose_single(text)
    except yaml.YAMLError:
        return None
    if node is None:
        loader.dispose()
        return None
    return loader, node


def _tree_of(text: str, root: yaml.Node) -> Tree | None:
    """The position tree of a composed document (None: leave it to the event path)."""
    try:
        return Tree(text=text, root=_node_of(root, None))
    except (_Irregular, RecursionError):
        return None


def _node_of(composed: yaml.Node, parent: Node | None) -> Node:
    start, end = composed.start_mark.index, composed.end_mark.index
    if isinstance(composed, yaml.ScalarNode):
        value, style = composed.value, composed.style or ""
        if not style and ("{{" in value or "}}" in value):
            raise _Irregular
        return Node(SCALAR, start, end, style=style, value=value, parent=parent)
    if isinstance(composed, yaml.MappingNode):
        node = Node(MAPPING, start, end, flow=bool(composed.flow_style), parent=parent)
        pairs = node.pairs
        for key, value in composed.value:
            if not isinstance(key, yaml.ScalarNode):
                raise _Irregular
            pairs.append((_node_of(key, node), _node_of(value, node)))
        return node
    if isinstance(composed, yaml.SequenceNode):
        node = Node(SEQUENCE, start, end, flow=bool(composed.flow_style), parent=parent)
        node.items = [_node_of(item, node) for item in composed.value]
        return node
    raise _Irregular


def _event_tree(text: str, base_line: int) -> Tree:
    """parse_tree from the C parser's events: every node, alias, anchor and tag."""
    try:
        events = list(yaml.parse(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError as exc:
        hint = " (it contains {{ }}: a Helm or other template?)" if "{{" in text else ""
        raise EditError(f"document does not parse as YAML{hint}: {exc}".replace("\n", " ")) \
            from exc

    stack: list[Node] = []
    pending_key: list[Node | None] = []
    roots: list[Node] = []
    documents = 0

    def attach(node: Node) -> None:
        if not stack:
            roots.append(node)
            return
        parent = stack[-1]
        node.parent = parent
        if parent.kind == SEQUENCE:
            parent.items.append(node)
        elif pending_key[-1] is None:
            if node.is_collection:
                line = base_line + line_number(text, node.start)
                raise EditError(
                    f"line {line}: a collection used as a mapping key "
                    "(a template such as Helm's {{ }}?); refusing to edit"
                )
            pending_key[-1] = node
        else:
            key = pending_key[-1]
            assert key is not None
            parent.pairs.append((key, node))
            pending_key[-1] = None

    for event in events:
        assert event.start_mark is not None and event.end_mark is not None  # C parser sets both
        start, end = event.start_mark.index, event.end_mark.index
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
        elif isinstance(event, yaml.ScalarEvent):
            if event.style in ("", None) and ("{{" in event.value or "}}" in event.value):
                line = base_line + line_number(text, start)
                raise EditError(
                    f"line {line}: template expression {event.value!r} in a plain scalar "
                    "(Helm or another template language); refusing to edit"
                )
            attach(
                Node(SCALAR, start, end, style=event.style or "", value=event.value,
                     anchor=event.anchor, tag=event.tag)
            )
        elif isinstance(event, yaml.AliasEvent):
            attach(Node(ALIAS, start, end, anchor=event.anchor))
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            kind = MAPPING if isinstance(event, yaml.MappingStartEvent) else SEQUENCE
            node = Node(kind, start, end, flow=bool(event.flow_style), anchor=event.anchor,
                        tag=event.tag)
            attach(node)
            stack.append(node)
            pending_key.append(None)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            node = stack.pop()
            pending_key.pop()
            node.end = end
    if documents != 1:
        raise EditError(f"expected one document in the edited range, found {documents}")
    return Tree(text=text, root=roots[0] if roots else None)


def walk(node: Node) -> list[Node]:
    """All nodes of the subtree rooted at ``node``, depth first (a mapping's key before
    its value), without recursion: each edit walks its document twice (layout, duplicate
    keys), and the recursive form copied every subtree's list into its parent's."""
    out: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        if current.kind == MAPPING:
            for key, value in reversed(current.pairs):
                stack.append(value)
                stack.append(key)
        elif current.kind == SEQUENCE:
            stack.extend(reversed(current.items))
    return out


def check_duplicate_keys(root: Node | None, text: str, base_line: int = 0) -> None:
    """Refuse documents with duplicate mapping keys: loaders disagree on which one wins."""
    if root is None:
        return
    for node in walk(root):
        if node.kind != MAPPING:
            continue
        seen: set[str] = set()
        for key, _ in node.pairs:
            if key.kind != SCALAR or key.value is None:
                continue
            if key.value in seen:
                line = base_line + line_number(text, key.start)
                raise EditError(
                    f"line {line}: duplicate key {key.value!r} in the edited document; "
                    "refusing to edit (YAML loaders disagree on which value wins)"
                )
            seen.add(key.value)
