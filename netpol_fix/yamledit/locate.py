"""A node tree with character positions, built from PyYAML C-parser events.

Why events and not a loader: the composer resolves aliases to their anchored node and
drops positions we need (every alias gets its own marks here), and the C event stream
is the cheapest way to get exact offsets. ``mark.index`` is a character offset into the
str that was parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from netpol_fix.yamledit.errors import EditError

SCALAR = "scalar"
MAPPING = "mapping"
SEQUENCE = "sequence"
ALIAS = "alias"


@dataclass(eq=False)
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
    explicit_start: bool


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
    try:
        events = list(yaml.parse(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError as exc:
        hint = " (it contains {{ }}: a Helm or other template?)" if "{{" in text else ""
        raise EditError(f"document does not parse as YAML{hint}: {exc}".replace("\n", " ")) \
            from exc

    stack: list[Node] = []
    pending_key: list[Node | None] = []
    roots: list[Node] = []
    explicit = False
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
            explicit = bool(event.explicit)
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
    return Tree(text=text, root=roots[0] if roots else None, explicit_start=explicit)


def walk(node: Node) -> list[Node]:
    """All nodes of the subtree rooted at ``node``, depth first."""
    out = [node]
    for child in node.children():
        out.extend(walk(child))
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
