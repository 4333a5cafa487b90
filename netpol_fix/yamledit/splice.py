"""Apply JSON Patch operations to one document's text by splicing at node positions.

Why splicing: re-dumping a document rewrites quotes, comments, indentation and folding
all over it; splicing changes only the bytes an operation needs. Each operation
re-parses the (small) document text, computes one replacement, and applies it.
"""

from __future__ import annotations

from typing import Any

import yaml

from netpol_fix.yamledit.errors import EditError
from netpol_fix.yamledit.lines import (
    column,
    indent_of_line,
    is_first_on_line,
    line_end,
    line_kind,
    line_start,
    next_line_start,
)
from netpol_fix.yamledit.locate import (
    ALIAS,
    MAPPING,
    SCALAR,
    SEQUENCE,
    Node,
    check_duplicate_keys,
    content_end,
    line_number,
    parse_tree,
    walk,
)
from netpol_fix.yamledit.pointer import format_pointer
from netpol_fix.yamledit.render import (
    block_lines,
    is_block,
    json_lines,
    render_inline,
    render_scalar,
    sequence_lines,
)
from netpol_fix.yamledit.style import Style, dash_gap_of

MAX_FLOW_LINE = 100  # a flow collection in block context grows inline only up to this width


class DocumentEditor:
    """Edits the text of one document; ``text`` always holds the current version."""

    def __init__(self, text: str, style: Style, base_line: int = 0,
                 root: Node | None = None) -> None:
        """``root``: the tree of ``text`` when the caller parsed (and checked) it already."""
        self.text = text
        self.style = style
        self.base_line = base_line
        self.root: Node | None = root
        self._parsed: str | None = text if root is not None else None
        """The text ``root`` was parsed from: an operation that changed nothing yet (the
        first, or the second of an append) reuses the tree instead of parsing again."""

    # -- helpers ---------------------------------------------------------------------

    def _line(self, pos: int) -> int:
        return self.base_line + line_number(self.text, pos)

    def _reparse(self) -> Node | None:
        if self._parsed is self.text:
            return self.root
        tree = parse_tree(self.text, self.base_line)
        check_duplicate_keys(tree.root, self.text, self.base_line)
        self.root = tree.root
        self._parsed = self.text
        return tree.root

    def _splice(self, start: int, end: int, new: str) -> None:
        self.text = self.text[:start] + new.replace("\n", self.style.newline) + self.text[end:]

    def _refuse(self, node: Node, why: str) -> EditError:
        return EditError(f"line {self._line(node.start)}: {why}")

    def _check_plain(self, node: Node, tokens: list[str]) -> None:
        """Refuse anchors, aliases and merge keys on the edited path."""
        where = format_pointer(tokens) or "/"
        if node.kind == ALIAS:
            raise self._refuse(node, f"{where} is an alias (*{node.anchor}); refusing to edit")
        if node.anchor:
            raise self._refuse(
                node, f"{where} is anchored (&{node.anchor}); editing it would change "
                "every alias too; refusing to edit")
        if node.kind == MAPPING and any(k.value == "<<" and k.style == "" for k, _ in node.pairs):
            raise self._refuse(node, f"{where} uses a merge key (<<); refusing to edit")

    def _resolve(self, tokens: list[str]) -> list[Node]:
        """The nodes from the root to the node at ``tokens`` (all must exist)."""
        root = self._reparse()
        if root is None:
            raise EditError("the document is empty")
        path = [root]
        self._check_plain(root, [])
        node = root
        for depth, token in enumerate(tokens):
            child = self._child(node, token)
            if child is None:
                raise self._refuse(node, f"path {format_pointer(tokens[:depth + 1])} not found")
            self._check_plain(child, tokens[:depth + 1])
            path.append(child)
            node = child
        return path

    @staticmethod
    def _child(node: Node, token: str) -> Node | None:
        if node.kind == MAPPING:
            for key, value in node.pairs:
                if key.kind == SCALAR and key.value == token:
                    return value
            return None
        if node.kind == SEQUENCE and token.isdigit() and int(token) < len(node.items):
            return node.items[int(token)]
        return None

    def _check_subtree(self, node: Node) -> None:
        """A removed or replaced subtree must not hold anchors other nodes refer to."""
        for inner in walk(node):
            if inner.anchor or inner.kind == ALIAS:
                raise self._refuse(inner, "the edited value contains an anchor or alias; "
                                   "refusing to edit")

    def _data(self, node: Node) -> Any:
        """The data of a flow node, read from its own text."""
        return yaml.load(self.text[node.start:node.end], Loader=yaml.CSafeLoader)

    def _key_of(self, node: Node) -> Node | None:
        parent = node.parent
        if parent is not None and parent.kind == MAPPING:
            for key, value in parent.pairs:
                if value is node:
                    return key
        return None

    def _after_colon(self, key: Node) -> int:
        pos = key.end
        while self.text[pos] != ":":
            pos += 1
        return pos + 1

    def _dash_pos(self, seq: Node, item: Node) -> int:
        """Offset of an item's ``-``: at the sequence's column, on the item's line or on
        an earlier one (``-`` alone on its line, or followed by a comment)."""
        dash_col = column(self.text, seq.start)
        ls = line_start(self.text, item.start)
        while True:
            dash = ls + dash_col
            if dash <= item.start and self.text[dash:dash + 1] == "-" and \
                    self.text[dash + 1:dash + 2] in (" ", "\r", "\n", ""):
                return dash
            if ls == 0:
                raise self._refuse(item, "cannot find this sequence item's dash")
            ls = line_start(self.text, ls - 1)

    # -- where new lines go ----------------------------------------------------------

    def _insertion_point(self, after: int, item_col: int) -> int:
        """Start of the line after offset ``after``, moved past comment lines that belong
        to the node ending there (indented at least ``item_col`` and deeper than the next
        content line). A comment at the next key's column belongs to that key."""
        text = self.text
        pos = next_line_start(text, after)
        next_indent = 0
        scan = pos
        while scan < len(text):
            kind = line_kind(text, scan)
            if kind == "content":
                next_indent = indent_of_line(text, scan)
                break
            if kind == "marker":
                break
            scan = next_line_start(text, scan)
        while pos < len(text) and line_kind(text, pos) == "comment":
            indent = indent_of_line(text, pos)
            if indent >= item_col and indent > next_indent:
                pos = next_line_start(text, pos)
            else:
                break
        return pos

    def _insert_lines(self, pos: int, lines: list[str]) -> None:
        """Insert whole lines at a line start; at an unterminated end, keep it unterminated."""
        frag = "\n".join(lines)
        if pos == len(self.text) and pos > 0 and not self.text.endswith("\n"):
            pos += self._fix_final_block_scalar()
            self._splice(pos, pos, "\n" + frag)
        else:
            self._splice(pos, pos, frag + "\n")

    def _fix_final_block_scalar(self) -> int:
        """A ``|``/``>`` scalar that ends the file without a newline has no final line
        break; once lines follow it, clip chomping would add one. Switch it to ``-``.
        Returns how many characters the header grew."""
        assert self.root is not None
        for node in walk(self.root):
            if node.kind != SCALAR or node.style not in ("|", ">"):
                continue
            if content_end(node, self.text) != len(self.text.rstrip(" ")) or (
                node.value or "").endswith("\n"):
                continue
            head = node.start + 1
            end = head
            while end < len(self.text) and self.text[end] in "123456789+-":
                end += 1
            indicators = self.text[head:end]
            if "-" in indicators:
                return 0
            new = indicators.replace("+", "") + "-"
            self._splice(head, end, new)
            return len(new) - len(indicators)
        return 0

    # -- operations ------------------------------------------------------------------

    def add(self, tokens: list[str], value: Any) -> None:
        if not tokens:
            self.replace([], value)
            return
        path = self._resolve(tokens[:-1])
        parent, last = path[-1], tokens[-1]
        if parent.kind == MAPPING:
            existing = self._child(parent, last)
            if existing is not None:
                self._check_plain(existing, tokens)
                self._check_subtree(existing)
                self._replace_node(existing, value)
            else:
                self._insert_pair(parent, last, value)
        elif parent.kind == SEQUENCE:
            index = len(parent.items) if last == "-" else int(last)
            self._insert_item(parent, index, value)
        else:
            raise self._refuse(parent, f"cannot add into a {parent.kind} at "
                               f"{format_pointer(tokens[:-1])}")

    def append(self, tokens: list[str], values: list[Any]) -> None:
        """``add`` of each value to ``tokens + ["-"]``, in order: the same text as one
        ``add`` per value, but a block sequence is parsed once and its new items inserted
        together (a fix appending a hundred rules would otherwise re-parse the growing
        document a hundred times)."""
        parent = self._resolve(tokens)[-1] if values else None
        # a new scalar item is quoted like its siblings, which the items added before it
        # can change: scalars go one at a time (fixes append rules, which are mappings)
        if parent is None or parent.kind != SEQUENCE or parent.flow or len(values) == 1 \
                or not all(isinstance(value, (dict, list)) for value in values):
            for value in values:
                self.add([*tokens, "-"], value)
            return
        self._insert_item(parent, len(parent.items), values[0], more=values[1:])

    def replace(self, tokens: list[str], value: Any) -> None:
        node = self._resolve(tokens)[-1]
        self._check_subtree(node)
        self._replace_node(node, value)

    def remove(self, tokens: list[str]) -> None:
        if not tokens:
            raise EditError("removing the whole document is not supported")
        path = self._resolve(tokens)
        node, parent = path[-1], path[-2]
        self._check_subtree(node)
        if parent.flow:
            self._flow_remove(parent, node)
            return
        siblings = parent.items if parent.kind == SEQUENCE else [v for _, v in parent.pairs]
        if len(siblings) == 1:
            self._replace_node(parent, [] if parent.kind == SEQUENCE else {})
            return
        text = self.text
        if parent.kind == SEQUENCE:
            start = self._dash_pos(parent, node)
            end = content_end(node, text)
            if not is_first_on_line(text, start):
                # first item of a compact "- - x": pull the next item up onto this line
                following = parent.items[parent.items.index(node) + 1]
                self._splice(start, self._dash_pos(parent, following), "")
                return
            start = line_start(text, start)
        else:
            key = self._key_of(node)
            assert key is not None
            end = max(content_end(node, text), key.end)
            if not is_first_on_line(text, key.start):
                # first key after "- " or "--- ": pull the next key up onto this line
                index = [v for _, v in parent.pairs].index(node)
                next_key = parent.pairs[index + 1][0]
                self._splice(key.start, next_key.start, "")
                return
            start = line_start(text, key.start)
        start = self._header_comments_start(start)
        # comments that belong to the removed node (deeper than what follows) go with it
        stop = self._insertion_point(end, indent_of_line(text, start))
        if stop == len(text) and not text.endswith("\n") and start > 0:
            start -= 2 if text[start - 2:start] == "\r\n" else 1  # keep the end unterminated
        self._splice(start, stop, "")

    def _header_comments_start(self, start: int) -> int:
        """Extend a removal upward over the comment lines right above it at its own
        column: such a comment introduces the removed node (the same rule that gives a
        comment at the next key's column to that key when inserting)."""
        col = indent_of_line(self.text, start)
        while start > 0:
            prev = line_start(self.text, start - 1)
            if line_kind(self.text, prev) != "comment" or indent_of_line(self.text, prev) != col:
                break
            start = prev
        return start

    # -- insertion -------------------------------------------------------------------

    def _insert_pair(self, mapping: Node, key: str, value: Any) -> None:
        if mapping.flow:
            if self._flow_stays_inline(mapping, key, value):
                self._flow_insert(mapping, len(mapping.pairs), value, key)
            else:
                data = self._data(mapping)
                data[key] = value
                self._replace_node(mapping, data)
            return
        key_col = column(self.text, mapping.pairs[0][0].start)
        last_key, last_value = mapping.pairs[-1]
        end = max(content_end(last_value, self.text), last_key.end)
        pos = self._insertion_point(end, key_col)
        self._insert_lines(pos, self._pair_lines(key, value, key_col, self._local_style(mapping)))

    def _local_style(self, mapping: Node) -> Style:
        """The document style, but with this mapping's own indentation step: a 1-space
        ``metadata`` block in a 2-space file gets 1-space children."""
        owner = self._key_of(mapping)
        if owner is None or not is_first_on_line(self.text, mapping.pairs[0][0].start):
            return self.style
        step = column(self.text, mapping.pairs[0][0].start) - column(self.text, owner.start)
        return self.style.with_(mapping_indent=step) if step > 0 else self.style

    def _pair_lines(self, key: str, value: Any, key_col: int, style: Style) -> list[str]:
        head = " " * key_col + render_scalar(key, style) + ":"
        if not is_block(value):
            return [head + " " + render_inline(value, style)]
        offset = style.mapping_indent if isinstance(value, dict) else style.sequence_offset
        return [head] + block_lines(value, key_col + offset, style)

    def _insert_item(self, seq: Node, index: int, value: Any, more: list[Any] | None = None
                     ) -> None:
        """Insert ``value`` (and, in a block sequence, the items ``more`` after it) at
        ``index``."""
        quote = self._sibling_quote(seq)
        if seq.flow:
            assert not more
            if self._flow_stays_inline(seq, None, value):
                self._flow_insert(seq, index, value, None, quote)
            else:
                data = self._data(seq)
                data.insert(index, value)
                self._replace_node(seq, data)
            return
        dash_col = column(self.text, seq.start)
        gap = dash_gap_of(self.text, seq) or self.style.dash_gap
        style = self.style.with_(dash_gap=gap)
        force = quote is not None
        if quote is not None:
            style = style.with_(quote=quote)
        lines = sequence_lines([value, *(more or [])], dash_col, style, force_quote=force)
        if index < len(seq.items):
            dash = self._dash_pos(seq, seq.items[index])
            if not is_first_on_line(self.text, dash):
                # first item of a compact "- - x": the new item takes its place
                lines[0] = lines[0][dash_col:]
                self._splice(dash, dash, "\n".join(lines) + "\n" + " " * dash_col)
                return
            pos = line_start(self.text, dash)
        else:
            pos = self._insertion_point(content_end(seq.items[-1], self.text), dash_col)
        self._insert_lines(pos, lines)

    @staticmethod
    def _sibling_quote(seq: Node) -> str | None:
        """The quote character every scalar item of ``seq`` is written with, if they all
        use the same one (a new scalar item is then quoted the same way), else None."""
        scalars = [i for i in seq.items if i.kind == SCALAR]
        quoted = {i.style for i in scalars}
        if scalars and len(quoted) == 1 and quoted <= {"'", '"'}:
            return quoted.pop()
        return None

    # -- flow collections ------------------------------------------------------------

    def _flow_entries(self, node: Node) -> list[tuple[int, int]]:
        if node.kind == SEQUENCE:
            return [(i.start, i.end) for i in node.items]
        return [(k.start, max(k.end, v.end)) for k, v in node.pairs]

    def _flow_multiline(self, node: Node) -> bool:
        entries = self._flow_entries(node)
        return bool(entries) and line_start(self.text, entries[0][0]) > node.start

    def _flow_stays_inline(self, node: Node, key: str | None, value: Any) -> bool:
        """Grow a flow collection in place, or rewrite it in block style?

        In place when it sits inside another flow collection or is the root, when the
        document is JSON, or when it already has entries and the line stays short."""
        if self.style.json or node.parent is None or node.parent.flow:
            return True
        if not self._flow_entries(node) or self._flow_multiline(node):
            return bool(self._flow_entries(node))
        entry = self._flow_entry_text(key, value)
        return line_end(self.text, node.end) - line_start(self.text, node.start) \
            + len(entry) + 2 <= MAX_FLOW_LINE

    def _flow_entry_text(self, key: str | None, value: Any, quote: str | None = None
                         ) -> str:
        if quote is not None:
            text = render_inline(value, self.style.with_(quote=quote), force_quote=True)
        else:
            text = render_inline(value, self.style)
        return text if key is None else f"{render_scalar(key, self.style)}: {text}"

    def _flow_insert(self, node: Node, index: int, value: Any, key: str | None,
                     quote: str | None = None) -> None:
        """Insert an entry; ``quote``: the quote character of its sibling items, which a
        new scalar item of a sequence is written with too."""
        entries = self._flow_entries(node)
        if not entries:
            opener, closer = ("[", "]") if node.kind == SEQUENCE else ("{", "}")
            parent = node.parent
            if self.style.json and parent is not None and self._flow_multiline(parent):
                # pretty-printed JSON: the first entry goes on its own line
                outer = " " * indent_of_line(self.text, line_start(self.text, node.start))
                inner = outer + " " * self.style.json_indent
                entry = self._flow_entry_lines(key, value, inner)
                self._splice(node.start, node.end,
                             f"{opener}\n{inner}{entry}\n{outer}{closer}")
                return
            self._splice(node.start, node.end,
                         opener + self._flow_entry_text(key, value) + closer)
            return
        if self._flow_multiline(node):
            indent = " " * indent_of_line(self.text, line_start(self.text, entries[0][0]))
            entry = self._flow_entry_lines(key, value, indent, quote)
            if index >= len(entries):
                self._splice(entries[-1][1], entries[-1][1], ",\n" + indent + entry)
            else:
                at = entries[index][0]
                self._splice(at, at, entry + ",\n" + indent)
            return
        entry = self._flow_entry_text(key, value, quote)
        if index >= len(entries):
            self._splice(entries[-1][1], entries[-1][1], ", " + entry)
        else:
            self._splice(entries[index][0], entries[index][0], entry + ", ")

    def _flow_entry_lines(self, key: str | None, value: Any, indent: str,
                          quote: str | None = None) -> str:
        """One entry of a pretty-printed flow collection, continuation lines re-indented."""
        if self.style.json and is_block(value):
            body = ("\n" + indent).join(json_lines(value, self.style.json_indent))
            return body if key is None else f"{render_scalar(key, self.style)}: {body}"
        return self._flow_entry_text(key, value, quote)

    def _flow_remove(self, parent: Node, node: Node) -> None:
        entries = self._flow_entries(parent)
        if parent.kind == SEQUENCE:
            index = parent.items.index(node)
        else:
            index = [v for _, v in parent.pairs].index(node)
        start, end = entries[index]
        if index + 1 < len(entries):
            self._splice(start, entries[index + 1][0], "")
        elif index > 0:
            self._splice(entries[index - 1][1], end, "")
        else:
            self._splice(start, end, "")

    # -- replacement -----------------------------------------------------------------

    def _replace_node(self, node: Node, value: Any) -> None:
        """Replace a node's value, keeping its key, its dash and its inline comment."""
        text = self.text
        parent = node.parent
        end = content_end(node, text)
        if parent is not None and parent.flow or (parent is None and node.flow) \
                or self.style.json:
            self._splice(node.start, end, self._inline_in_flow(node, value))
            return
        if parent is None:  # block root
            new = "\n".join(block_lines(value, 0, self.style)) if is_block(value) \
                else render_inline(value, self.style)
            prefix = "\n" if is_block(value) and column(text, node.start) > 0 else ""
            self._splice(node.start, end, prefix + new)
            return
        if parent.kind == SEQUENCE:
            self._replace_item(parent, node, value)
            return
        key = self._key_of(node)
        assert key is not None
        after_colon = self._after_colon(key)
        same_line = line_start(text, node.start) == line_start(text, key.start)
        if not is_block(value):
            inline = render_inline(value, self.style)
            if same_line and not node.is_empty_null():
                self._splice(node.start, end, inline)
            else:
                self._splice(after_colon, end, " " + inline)
            return
        key_col = column(text, key.start)
        if node.kind == value_kind(value) and not node.flow and node.is_collection:
            col = column(text, node.start if node.kind == SEQUENCE else node.pairs[0][0].start)
        elif isinstance(value, dict):
            col = key_col + self.style.mapping_indent
        else:
            col = key_col + self.style.sequence_offset
        lines = "\n".join(block_lines(value, col, self._item_style(node, value)))
        if same_line or node.is_empty_null():
            # "key: []  # c" becomes "key:  # c" followed by the block lines
            rest_end = line_end(text, end)
            rest = text[end:rest_end].rstrip(" \t")
            self._splice(after_colon, rest_end, rest + "\n" + lines)
        else:
            self._splice(line_start(text, node.start), line_end(text, end), lines)

    def _item_style(self, node: Node, value: Any) -> Style:
        """Keep the dash gap of the sequence being replaced."""
        if node.kind == SEQUENCE and not node.flow and isinstance(value, list):
            gap = dash_gap_of(self.text, node)
            if gap:
                return self.style.with_(dash_gap=gap)
        return self.style

    def _replace_item(self, seq: Node, node: Node, value: Any) -> None:
        text = self.text
        end = content_end(node, text)
        if not is_block(value):
            self._splice(node.start, end, render_inline(value, self.style))
            return
        dash = self._dash_pos(seq, node)
        dash_col = column(text, seq.start)
        gap = dash_gap_of(text, seq) or self.style.dash_gap
        lines = sequence_lines([value], dash_col, self.style.with_(dash_gap=gap))
        lines[0] = lines[0][dash_col:]  # the text before the dash stays as it is
        self._splice(dash, line_end(text, end), "\n".join(lines))

    def _inline_in_flow(self, node: Node, value: Any) -> str:
        parent = node.parent
        if self.style.json and is_block(value) and (
                parent is None or self._flow_multiline(parent) or self._flow_multiline(node)):
            indent = " " * indent_of_line(self.text, line_start(self.text, node.start))
            return ("\n" + indent).join(json_lines(value, self.style.json_indent))
        return render_inline(value, self.style)


def value_kind(value: Any) -> str:
    """The node kind a Python value is written as."""
    if isinstance(value, dict):
        return MAPPING
    if isinstance(value, list):
        return SEQUENCE
    return SCALAR
