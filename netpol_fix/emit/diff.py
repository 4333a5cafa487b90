"""Connectivity diffs for people (text), programs (json), pull requests (md, with a Mermaid
picture of the pairs), a picture alone (mermaid), and in netpol-analyzer's diff format, line
for line, so its published outputs can be compared.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from netpol_fix.emit import mermaid
from netpol_fix.engine.diff import CHANGE_TYPES, ConnectivityDiff, PairChange
from netpol_fix.model.connset import ConnSet
from netpol_fix.model.text import inert

FORMATS = ("text", "json", "md", "mermaid", "netpol-analyzer")
MD_MAX_ROWS = 200
"""A pull-request comment has a size limit (GitHub: 65,536 characters); past this many
rows the table is cut and the count of the rest is given."""


def render(diff: ConnectivityDiff, fmt: str, ref1: str = "ref1", ref2: str = "ref2") -> str:
    if fmt == "netpol-analyzer":
        return render_netpol_analyzer(diff.changes, ref1, ref2)
    if fmt == "json":
        return render_json(diff)
    if fmt == "md":
        return render_md(diff)
    if fmt == "text":
        return render_text(diff)
    if fmt == "mermaid":
        return mermaid.changes_graph(diff.changes)
    raise ValueError(f"unknown format {fmt!r}")


def ports_only(change: PairChange) -> bool:
    """Whether the change shows in netpol-analyzer's model, which has TCP, UDP and SCTP
    only: a change of ICMP alone (a port-less rule replaced by every port of the three
    protocols) cannot be written in its format."""
    old, new = change.old, change.new
    return (old.tcp, old.udp, old.sctp) != (new.tcp, new.udp, new.sctp)


def describe(conns: ConnSet) -> str:
    """netpol-analyzer's notation, plus what it cannot say: ICMP and other protocols are
    allowed only by rules without ports, so every port of TCP, UDP and SCTP is not all."""
    ports = conns.describe()
    if conns.other and not conns.is_all:
        return "ICMP and other protocols" if ports == "No Connections" else (
            f"{ports},ICMP and other protocols")
    if conns.is_all and not conns.other:
        return "TCP,UDP,SCTP all ports (no ICMP)"
    return ports


def analyzer_line(change: PairChange, ref1: str = "ref1", ref2: str = "ref2") -> str:
    """One line of netpol-analyzer's txt diff."""
    line = (f"diff-type: {change.change}, source: {change.src}, destination: {change.dst}, "
            f"{ref1}: {change.old.describe()}, {ref2}: {change.new.describe()}")
    info = change.workloads_diff_info()
    return f"{line}, workloads-diff-info: {info}" if info else line


def render_netpol_analyzer(changes: Sequence[PairChange], ref1: str = "ref1",
                           ref2: str = "ref2") -> str:
    """`Connectivity diff:` then changed, added, removed lines, each group sorted; nothing
    at all when the connectivity is the same (netpol-analyzer prints an empty file).
    Changes of ICMP alone are left out: the format cannot express them."""
    changes = [c for c in changes if ports_only(c)]
    if not changes:
        return ""
    lines = ["Connectivity diff:"]
    for kind in CHANGE_TYPES:
        lines += sorted(analyzer_line(c, ref1, ref2) for c in changes if c.change == kind)
    return "\n".join(lines) + "\n"


def _summary(diff: ConnectivityDiff) -> str:
    counts = diff.counts()
    total = sum(counts.values())
    if not total:
        return "Connectivity is the same."
    return (f"{total} pair(s) differ: {counts['added']} added, {counts['removed']} removed, "
            f"{counts['changed']} changed.")


def render_text(diff: ConnectivityDiff) -> str:
    out = [_summary(diff)]
    for change in diff.changes:
        out.append("")
        out.append(f"{change.change:<8} {change.src} => {change.dst}")
        out.append(f"    old: {describe(change.old)}")
        out.append(f"    new: {describe(change.new)}")
        if change.change == "changed":
            if change.gained:
                out.append(f"    gained: {describe(change.gained)}")
            if change.lost:
                out.append(f"    lost: {describe(change.lost)}")
        for cause in change.causes:
            out.append(f"    because: {cause}")
    summaries = diff.inputs.summaries()
    if summaries:
        out.append("")
        out.append("Input changes:")
        out += [f"  {subject} {what}" for subject, what in summaries]
    return "\n".join(out) + "\n"


def change_to_json(change: PairChange) -> dict[str, object]:
    return {
        "diff_type": change.change,
        "src": change.src,
        "dst": change.dst,
        "old": describe(change.old),
        "new": describe(change.new),
        "old_connections": change.old.to_json(),
        "new_connections": change.new.to_json(),
        "gained": change.gained.to_json(),
        "lost": change.lost.to_json(),
        "workloads_diff_info": change.workloads_diff_info(),
        "causes": [c.to_json() for c in change.causes],
    }


def render_json(diff: ConnectivityDiff) -> str:
    data = {
        "summary": diff.counts(),
        "changes": [change_to_json(c) for c in diff.changes],
        "input_changes": [{"subject": s, "change": w} for s, w in diff.inputs.summaries()],
    }
    return json.dumps(data, indent=2) + "\n"


def _cell(text: str) -> str:
    """A Markdown table cell: `|` escaped, control characters (newlines) made inert."""
    return inert(text.replace("\n", " ")).replace("|", "\\|")


def render_md(diff: ConnectivityDiff) -> str:
    """A pull-request comment: the summary, a picture of the pairs (Mermaid, at most
    mermaid.MAX_EDGES of them), a table of pairs, the input changes."""
    out = [f"**Connectivity diff.** {_summary(diff)}"]
    if diff.changes:
        out += ["", mermaid.fenced(mermaid.changes_graph(diff.changes)), "",
                ("Green: pairs added; red, dashed: removed; orange: changed (+ gained, "
                 "- lost).")]
        out += ["", "| diff | source | destination | old | new | because |",
                "|------|--------|-------------|-----|-----|---------|"]
        for change in diff.changes[:MD_MAX_ROWS]:
            because = "<br>".join(_cell(str(c)) for c in change.causes)
            out.append(f"| {change.change} | `{change.src}` | `{change.dst}` | "
                       f"{describe(change.old)} | {describe(change.new)} | {because} |")
        if len(diff.changes) > MD_MAX_ROWS:
            out.append(f"\n…and {len(diff.changes) - MD_MAX_ROWS} more pair(s); "
                       "run `netpol-fix diff` for the full list.")
    summaries = diff.inputs.summaries()
    if summaries:
        out += ["", "Input changes:", ""]
        out += [f"- {_cell(subject)} {_cell(what)}" for subject, what in summaries]
    return "\n".join(out) + "\n"
