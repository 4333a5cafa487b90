"""Hypothesis strategies: Kubernetes-like manifests written in varied YAML styles.

The writer here is deliberately independent of ``netpol_fix.yamledit.render`` so the
property tests do not share its assumptions.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import strategies as st

RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
K8S_KEYS = ["apiVersion", "kind", "metadata", "name", "labels", "spec", "podSelector",
            "matchLabels", "egress", "ingress", "ports", "port", "protocol", "to", "from",
            "policyTypes", "app.kubernetes.io/name", "namespaceSelector"]
TRICKY = ["yes", "on", "y", "0755", "08", "1e3", "~", "", "null", "a b", "#x", "x: y",
          "it's", "{{ not template }}", "- dash", "*star", "true", "-1", "1.0", "é ü"]

keys = st.one_of(
    st.sampled_from(K8S_KEYS),
    st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True).filter(lambda k: k not in RESERVED),
)
text = st.text(
    alphabet=st.characters(categories=("L", "N", "P", "S", "Zs"), max_codepoint=0xFFFF),
    max_size=12,
)
scalars = st.one_of(
    st.integers(-1000, 100000), st.booleans(), st.none(), st.sampled_from(TRICKY), text,
    st.sampled_from(["line one\nline two\n", "a\nb"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=14,
)
documents = st.dictionaries(keys, values, min_size=1, max_size=5)


@dataclass
class Layout:
    indent: int
    indentless: bool
    dash_gap: int
    flow: float
    comments: float
    crlf: bool
    final_newline: bool
    explicit_start: bool


layouts = st.builds(
    Layout,
    indent=st.sampled_from([1, 2, 4]),
    indentless=st.booleans(),
    dash_gap=st.sampled_from([1, 1, 3]),
    flow=st.sampled_from([0.0, 0.2, 0.6]),
    comments=st.sampled_from([0.0, 0.3]),
    crlf=st.booleans(),
    final_newline=st.booleans(),
    explicit_start=st.booleans(),
)


class Writer:
    """Writes JSON-like data as block YAML with the randomness of one Layout."""

    def __init__(self, layout: Layout, rnd: random.Random) -> None:
        self.layout = layout
        self.rnd = rnd

    def scalar(self, value: Any) -> str:
        if isinstance(value, str):
            if value and value[0].isalpha() and value.replace("-", "").replace(".", "").isalpha() \
                    and value.isascii() and yaml.safe_load(value) == value:
                return value
            return json.dumps(value)
        return json.dumps(value)

    def flow(self, value: Any) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{self.scalar(k)}: {self.flow(v)}"
                                   for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.flow(v) for v in value) + "]"
        return self.scalar(value)

    def comment(self) -> str:
        return "  # note\tx" if self.rnd.random() < self.layout.comments else ""

    def as_flow(self, value: Any) -> bool:
        return not value or self.rnd.random() < self.layout.flow

    def mapping(self, data: dict[str, Any], col: int, in_item: bool = False) -> list[str]:
        pad = " " * col
        lines: list[str] = []
        for i, (key, value) in enumerate(data.items()):
            if self.layout.comments and self.rnd.random() < self.layout.comments and not (
                    in_item and i == 0):
                lines.append(pad + "# about " + key)
            head = pad + self.scalar(key) + ":"
            if isinstance(value, (dict, list)) and not self.as_flow(value):
                lines.append(head + self.comment())
                if isinstance(value, dict):
                    lines.extend(self.mapping(value, col + self.layout.indent))
                else:
                    offset = 0 if self.layout.indentless else self.layout.indent
                    lines.extend(self.sequence(value, col + offset))
            elif isinstance(value, str) and "\n" in value and not value.endswith("\n"):
                lines.append(head + " |-")
                lines.extend(" " * (col + self.layout.indent) + part
                             for part in value.rstrip("\n").split("\n"))
            else:
                lines.append(head + " " + self.flow(value) + self.comment())
        return lines

    def sequence(self, data: list[Any], col: int) -> list[str]:
        pad = " " * col
        gap = " " * self.layout.dash_gap
        inner = col + 1 + self.layout.dash_gap
        lines: list[str] = []
        for item in data:
            if isinstance(item, dict) and not self.as_flow(item):
                nested = self.mapping(item, inner, in_item=True)
            elif isinstance(item, list) and not self.as_flow(item):
                nested = self.sequence(item, inner)
            elif isinstance(item, str) and "\n" in item:
                lines.append(pad + "-" + gap + json.dumps(item))
                continue
            else:
                lines.append(pad + "-" + gap + self.flow(item) + self.comment())
                continue
            nested[0] = pad + "-" + gap + nested[0][inner:]
            lines.extend(nested)
        if self.layout.comments and self.rnd.random() < self.layout.comments:
            lines.append(" " * (inner) + "# end of list")
        return lines


def write_stream(docs: list[dict[str, Any]], layout: Layout, seed: int) -> str:
    """A YAML stream of ``docs`` laid out per ``layout``."""
    writer = Writer(layout, random.Random(seed))
    parts: list[str] = []
    for i, doc in enumerate(docs):
        lines = writer.mapping(doc, 0)
        if i > 0 or layout.explicit_start:
            lines.insert(0, "---")
        parts.extend(lines)
    nl = "\r\n" if layout.crlf else "\n"
    out = nl.join(parts)
    return out + nl if layout.final_newline else out


def all_paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every (path tokens, value) pair in ``value``, the root included."""
    out = [(prefix, value)]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(all_paths(item, prefix + (key,)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(all_paths(item, prefix + (str(index),)))
    return out


def pointer(tokens: tuple[str, ...]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


@st.composite
def operations_for(draw: st.DrawFn, doc: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """One operation valid for ``doc`` and the path of the collection it edits."""
    paths = all_paths(doc)
    dicts = [p for p, v in paths if isinstance(v, dict)]
    lists = [p for p, v in paths if isinstance(v, list)]
    non_root = [(p, v) for p, v in paths if p]
    kinds = ["add-key", "replace", "test"] if non_root else ["add-key"]
    if lists:
        kinds += ["append", "insert"]
    if non_root:
        kinds.append("remove")
    kind = draw(st.sampled_from(kinds))
    if kind == "add-key":
        parent = draw(st.sampled_from(dicts))
        target = dict(paths)[parent]
        key = draw(keys.filter(lambda k: k not in target))
        return {"op": "add", "path": pointer(parent + (key,)), "value": draw(values)}, parent
    if kind in ("append", "insert"):
        parent = draw(st.sampled_from(lists))
        size = len(dict(paths)[parent])
        last = "-" if kind == "append" else str(draw(st.integers(0, size)))
        return {"op": "add", "path": pointer(parent + (last,)), "value": draw(values)}, parent
    path, value = draw(st.sampled_from(non_root))
    if kind == "replace":
        return {"op": "replace", "path": pointer(path), "value": draw(values)}, path[:-1]
    if kind == "test":
        return {"op": "test", "path": pointer(path), "value": value}, path[:-1]
    return {"op": "remove", "path": pointer(path)}, path[:-1]
