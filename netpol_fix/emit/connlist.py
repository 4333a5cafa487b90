"""Connectivity lists in netpol-analyzer's formats (txt, json, csv, md, dot), and as a
Mermaid graph (emit/mermaid.py).

The text format is netpol-analyzer's connlist, line for line, so its published expected
outputs can be compared directly: `SRC => DST : CONNS`, sorted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from netpol_fix.engine.connectivity import Connection

FORMATS = ("text", "json", "csv", "md", "dot", "mermaid")
MERMAID_MAX_EDGES = 500
"""Mermaid's default `maxEdges`: a bigger graph is refused by the renderer (GitHub's too)."""


def render(connections: Sequence[Connection], fmt: str) -> str:
    if fmt == "text":
        return "".join(f"{c.src} => {c.dst} : {c.conns.describe()}\n" for c in connections)
    if fmt == "json":
        rows = [{"src": c.src, "dst": c.dst, "conn": c.conns.describe(),
                 "connections": c.conns.to_json()} for c in connections]
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["src", "dst", "conn"])
        for c in connections:
            writer.writerow([c.src, c.dst, c.conns.describe()])
        return out.getvalue()
    if fmt == "md":
        lines = ["| src | dst | conn |", "|-----|-----|------|"]
        lines += [f"| {c.src} | {c.dst} | {c.conns.describe()} |" for c in connections]
        return "\n".join(lines) + "\n"
    if fmt == "dot":
        return _dot(connections)
    if fmt == "mermaid":
        from netpol_fix.emit.mermaid import connectivity_graph

        return connectivity_graph(connections)
    raise ValueError(f"unknown format {fmt!r}")


def _dot(connections: Sequence[Connection]) -> str:
    nodes = sorted({c.src for c in connections} | {c.dst for c in connections})
    by_namespace: dict[str, list[str]] = {}
    for node in nodes:
        ns = node.split("/", 1)[0] if "[External]" not in node else ""
        by_namespace.setdefault(ns, []).append(node)
    lines = ["digraph {"]
    for i, (ns, members) in enumerate(sorted(by_namespace.items())):
        if ns:
            lines.append(f'\tsubgraph "cluster_{i}" {{')
            lines.append(f'\t\tlabel="{ns}"')
            for node in members:
                lines.append(f'\t\t"{node}" [label="{node.split("/", 1)[1]}" shape=box]')
            lines.append("\t}")
        else:
            for node in members:
                lines.append(f'\t"{node}" [label="{node}" shape=ellipse]')
    for c in connections:
        lines.append(f'\t"{c.src}" -> "{c.dst}" [label="{c.conns.describe()}"]')
    lines.append("}")
    return "\n".join(lines) + "\n"
