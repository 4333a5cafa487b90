"""Mermaid pictures, for people who would rather look than read.

GitHub (and GitLab) render a Mermaid block in Markdown, so these go where reviewers are:
`explain --format mermaid` draws the diagnosis flowchart with the path this connection took
highlighted and the deciding policy named where it decided; `connectivity --format mermaid`
the allowed pairs, namespaces as subgraphs; `diff --format md|mermaid` and the fix pull
request body the flows a change cuts or a fix opens, bounded (a count of the rest).

Everything is drawn from the engine's objects (Verdict and its SideVerdicts and RuleChecks,
Connection, PairChange, Flow), never from rendered text. Labels are always quoted and
escaped with Mermaid's entity codes (quotes, `#`, `<`, `>`, `&`, backticks, `|`), newlines
become `<br/>`; ids are ASCII letters, digits and `_` derived from the name plus a hash of it,
so they are stable from run to run, valid, and two names never share one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from netpol_fix.engine.connectivity import Connection
from netpol_fix.engine.diff import PairChange
from netpol_fix.engine.verdict import RuleCheck, SideVerdict, Verdict
from netpol_fix.model.findings import Fix, Flow

MAX_EDGES = 40
"""Edges drawn in a pull request body or a diff picture; the rest are counted."""
REASON_CHARS = 110
"""A rule check's reason is cut after this many characters in a node (Mermaid wraps the
lines itself; `explain` text has every reason in full)."""
MAX_CHECKS = 4
"""Rule checks listed in a denied node; the rest are counted (`explain` text lists all)."""

_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;",
             "`": "#96;", "|": "#124;"}
NON_ENFORCING_CNIS = ("flannel",)
"""As the rule cni-no-enforcement: Flannel stores policies and enforces none."""


def escape(text: str) -> str:
    """Text for a quoted Mermaid label: entity codes for the characters Mermaid reads as
    syntax (each character is replaced once, so the `#` of an entity code is never escaped
    again), `<br/>` between lines."""
    lines = text.replace("\r", "").split("\n")
    return "<br/>".join("".join(_ENTITIES.get(ch, ch) for ch in line) for line in lines)


def _cut(text: str, limit: int = REASON_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def node_id(prefix: str, name: str) -> str:
    """A valid, stable id for `name`: a readable slug plus a hash of the exact name."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")[:32]
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{prefix}_{slug}_{digest}" if slug else f"{prefix}_{digest}"


def fenced(diagram: str) -> str:
    """A Mermaid diagram as a Markdown code block (GitHub renders it as the picture)."""
    return f"```mermaid\n{diagram.rstrip()}\n```"


# ----- shared graph of endpoints -------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A graph node: its namespace (None outside the cluster's pods) and what to show."""

    key: str
    namespace: str | None
    label: str

    @property
    def external(self) -> bool:
        return self.namespace is None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def endpoint(key: str) -> Endpoint:
    """The node of an endpoint as the engine names it: `ns/name[Kind]` (connectivity, diff),
    `ns/Kind/name` or `ns/labels` (a fix's flows), an address range `a-b[External]`, an IP
    or CIDR; anything else (netpol-analyzer's `{ingress-controller}`) is outside the pods."""
    if key.endswith("[External]") or _is_address(key):
        return Endpoint(key, None, key.removesuffix("[External]"))
    namespace, sep, rest = key.partition("/")
    if not sep or not namespace:
        return Endpoint(key, None, key)
    kind, sep, name = rest.partition("/")
    if sep and kind[:1].isupper() and name:
        return Endpoint(key, namespace, f"{name}[{kind}]")
    return Endpoint(key, namespace, rest)


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    label: str
    style: str = "allowed"
    """allowed | opens | added | removed | changed: the line's colour and pattern."""


_EDGE_STYLES = {
    "allowed": ("-->", "stroke:#57606a"),
    "opens": ("==>", "stroke:#1a7f37,stroke-width:2px"),
    "added": ("==>", "stroke:#1a7f37,stroke-width:2px"),
    "removed": ("-.->", "stroke:#cf222e,stroke-width:2px"),
    "changed": ("-->", "stroke:#bc4c00,stroke-width:2px"),
}


def graph(edges: Sequence[Edge], max_edges: int | None = None, more: str = "pair(s)",
          more_hint: str = "") -> str:
    """`flowchart LR` of the endpoints: one subgraph per namespace, outside addresses as
    rounded nodes, one edge per item. With `max_edges`, the first that many are drawn and a
    note node counts the rest (`… and 12 more pair(s)`)."""
    drawn = list(edges if max_edges is None else edges[:max_edges])
    hidden = len(edges) - len(drawn)
    points = {e.key: e for e in map(endpoint, sorted({x for d in drawn for x in (d.src, d.dst)}))}
    lines = ["flowchart LR"]
    by_namespace: dict[str, list[Endpoint]] = {}
    for point in points.values():
        if point.namespace is not None:
            by_namespace.setdefault(point.namespace, []).append(point)
    for namespace, members in sorted(by_namespace.items()):
        lines.append(f'  subgraph {node_id("ns", namespace)}["namespace {escape(namespace)}"]')
        lines += [f'    {node_id("w", p.key)}["{escape(p.label)}"]' for p in members]
        lines.append("  end")
    outside = [p for p in points.values() if p.external]
    lines += [f'  {node_id("x", p.key)}(["{escape(p.label)}"])' for p in outside]
    styles: dict[str, list[int]] = {}
    for index, edge in enumerate(drawn):
        arrow = _EDGE_STYLES[edge.style][0]
        src, dst = points[edge.src], points[edge.dst]
        lines.append(f'  {_ref(src)} {arrow}|"{escape(edge.label)}"| {_ref(dst)}')
        styles.setdefault(edge.style, []).append(index)
    if hidden:
        hint = f"<br/>{escape(more_hint)}" if more_hint else ""
        lines.append(f'  more_hidden["#8230; and {hidden} more {escape(more)}{hint}"]')
        lines.append("  class more_hidden note")
    lines.append("  classDef external fill:#f6f8fa,stroke:#8c959f,stroke-dasharray:3 3")
    lines.append("  classDef note fill:#fff8c5,stroke:#d4a72c")
    if outside:
        lines.append(f"  class {','.join(node_id('x', p.key) for p in outside)} external")
    for style, indexes in styles.items():
        lines.append(f"  linkStyle {','.join(map(str, indexes))} {_EDGE_STYLES[style][1]}")
    return "\n".join(lines) + "\n"


def _ref(point: Endpoint) -> str:
    return node_id("x" if point.external else "w", point.key)


def connectivity_graph(connections: Sequence[Connection]) -> str:
    """Every allowed pair, labelled with its connections (`TCP 80,UDP 53`, `All
    Connections`). Not bounded: the picture is the whole list (README says what Mermaid's
    own edge limit means for big inventories)."""
    return graph([Edge(c.src, c.dst, c.conns.describe()) for c in connections])


def flows_graph(flows: Iterable[Flow], max_edges: int = MAX_EDGES) -> str:
    """The flows a fix opens, one edge per pair (its connections joined), bounded."""
    merged: dict[tuple[str, str], list[str]] = {}
    for flow in flows:
        labels = merged.setdefault((flow.source, flow.destination), [])
        if flow.connections not in labels:
            labels.append(flow.connections)
    edges = [Edge(s, d, ", ".join(labels), "opens") for (s, d), labels in merged.items()]
    return graph(edges, max_edges, "flow(s) opened", "listed in the text above")


def change_edge(change: PairChange) -> Edge:
    """One changed pair: what it gained (+) and lost (-)."""
    parts = []
    if change.gained:
        parts.append(f"+ {change.gained.describe()}")
    if change.lost:
        parts.append(f"- {change.lost.describe()}")
    if not parts:  # differs in ICMP or other protocols only
        parts.append(f"{change.old.describe()} -> {change.new.describe()}")
    return Edge(change.src, change.dst, "\n".join(parts), change.change)


def changes_graph(changes: Sequence[PairChange], max_edges: int = MAX_EDGES) -> str:
    """The pairs a change cuts (red, dashed), opens (green) or alters (orange), bounded."""
    return graph([change_edge(c) for c in changes], max_edges, "pair(s)",
                 "netpol-fix diff --format text lists them all")


# ----- explain: the diagnosis flowchart ------------------------------------------------


@dataclass
class _Chart:
    """Nodes and links of a flowchart; links on the path taken are highlighted."""

    lines: list[str] = field(default_factory=list)
    links: int = 0
    taken_links: list[int] = field(default_factory=list)
    classes: dict[str, list[str]] = field(default_factory=dict)

    def node(self, ident: str, text: str, shape: str = "box", cls: str = "idle") -> str:
        opening, closing = {"box": ("[", "]"), "decision": ("{", "}"), "round": ("(", ")"),
                            "terminal": ("([", "])"), "note": ("[/", "/]")}[shape]
        self.lines.append(f'    {ident}{opening}"{escape(text)}"{closing}')
        self.classes.setdefault(cls, []).append(ident)
        return ident

    def link(self, src: str, dst: str, text: str = "", taken: bool = False,
             dashed: bool = False) -> None:
        arrow = "-.->" if dashed else "-->"
        label = f'|"{escape(text)}"|' if text else ""
        self.lines.append(f"    {src} {arrow}{label} {dst}")
        if taken:
            self.taken_links.append(self.links)
        self.links += 1


_CLASS_STYLES = {
    "idle": "fill:#f6f8fa,stroke:#d0d7de,color:#57606a",
    "path": "fill:#ddf4ff,stroke:#0969da,stroke-width:2px,color:#1f2328",
    "allowed": "fill:#dafbe1,stroke:#1a7f37,stroke-width:2px,color:#1f2328",
    "denied": "fill:#ffebe9,stroke:#cf222e,stroke-width:3px,color:#1f2328",
    "fix": "fill:#fff8c5,stroke:#9a6700,stroke-width:2px,color:#1f2328",
}


def explain_flowchart(verdicts: Sequence[Verdict], cni: str = "unknown",
                      fixes: Sequence[Fix | None] = ()) -> str:
    """The diagnosis flowchart for each verdict (one subgraph each when there are several):
    symptom (timeout or refused), destination isolated for ingress?, does an ingress rule
    admit the source?, source isolated for egress?, does an egress rule admit the
    destination?, can the source resolve names?, does the CNI enforce policy?, the verdict;
    then `fixes` (explain --fix, one or None per verdict) as notes on the verdict. Every branch is drawn; the ones
    this connection took are highlighted, and the policies and rules that decided are
    named in the node where they decided."""
    chart = _Chart()
    several = len(verdicts) > 1
    for index, verdict in enumerate(verdicts):
        prefix = f"v{index}_"
        if several:
            title = f"{verdict.source} => {verdict.destination}"
            chart.lines.append(f'  subgraph {prefix}box["{escape(title)}"]')
        fix = fixes[index] if index < len(fixes) else None
        _diagnosis(chart, prefix, verdict, cni, fix)
        if several:
            chart.lines.append("  end")
    out = ["flowchart TD", *chart.lines]
    for cls, style in _CLASS_STYLES.items():
        out.append(f"  classDef {cls} {style}")
    for cls, idents in chart.classes.items():
        out.append(f"  class {','.join(idents)} {cls}")
    if chart.taken_links:
        out.append(f"  linkStyle {','.join(map(str, chart.taken_links))} "
                   "stroke:#0969da,stroke-width:3px")
    return "\n".join(out) + "\n"


def _diagnosis(chart: _Chart, p: str, v: Verdict, cni: str, fix: Fix | None) -> None:
    query = v.query.describe()
    start = chart.node(f"{p}start", f"{v.source} => {v.destination} on {query}",
                       "terminal", "path")
    symptom = chart.node(f"{p}symptom", "What does the client see?", "decision", "path")
    chart.link(start, symptom, taken=True)
    refused_text = ("Connection refused (RST): something answered. NetworkPolicy drops "
                    "packets silently and sends no reset, so check the port and the listener "
                    "(Service targetPort, containerPort), not the policies")
    if v.refused:
        refused_text += f"\nREFUSED here: {v.refused}"
    refused = chart.node(f"{p}refused", refused_text, "box",
                         "denied" if v.refused else "idle")
    chart.link(symptom, refused, "refused", taken=bool(v.refused))
    after_ingress = _side(chart, p, "in", v.ingress, query)
    chart.link(symptom, f"{p}in_isolated", "timeout", taken=not v.refused)
    after_egress = _side(chart, p, "eg", v.egress, query)
    for node, taken in after_ingress:
        chart.link(node, f"{p}eg_isolated", taken=taken)
    dns_in = f"{p}dns"
    for node, taken in after_egress:
        chart.link(node, dns_in, taken=taken)
    after_dns = _dns(chart, p, v)
    cni_in = f"{p}cni"
    for node, taken in after_dns:
        chart.link(node, cni_in, taken=taken)
    after_cni = _cni(chart, p, v, cni)
    word = "ALLOWED" if v.allowed else "DENIED"
    if v.allowed:
        conns = v.conns.describe() if v.conns else "no connections"
        text = f"Verdict: {word} ({conns})"
        if v.dns is not None and not v.dns.allowed:
            text += "\nbut names do not resolve: a connection by name times out"
    else:
        sides = [("the source's egress" if s.direction == "Egress"
                  else "the destination's ingress") for s in (v.egress, v.ingress)
                 if not s.allowed]
        text = f"Verdict: {word} by {' and '.join(sides)}"
    if v.causes:
        text += f"\nknown causes: {', '.join(v.causes)}"
    end = chart.node(f"{p}verdict", text, "round", "allowed" if v.allowed else "denied")
    for node, taken in after_cni:
        chart.link(node, end, taken=taken)
    if fix is not None:
        lines = [f"Fix ({fix.applicability}): {fix.description}"]
        lines += [f"opens {flow}" for flow in fix.opens[:MAX_CHECKS]]
        if len(fix.opens) > MAX_CHECKS:
            lines.append(f"and {len(fix.opens) - MAX_CHECKS} more flow(s)")
        chart.link(end, chart.node(f"{p}fix", "\n".join(lines), "note", "fix"), "--fix",
                   dashed=True)


def _side(chart: _Chart, p: str, tag: str, side: SideVerdict,
          query: str) -> list[tuple[str, bool]]:
    """One side's two questions (isolated? does a rule admit?): the exits of the side, each
    with whether this connection left through it."""
    ingress = side.direction == "Ingress"
    what = "ingress" if ingress else "egress"
    on_path = "path"
    isolated = side.governed and side.isolated
    who = "Destination" if ingress else "Source"
    question = chart.node(f"{p}{tag}_isolated", f"{who} isolated for {what}?", "decision",
                          on_path)
    if side.governed and not side.isolated:
        open_text = side.note or f"no NetworkPolicy selects it for {what}: all {what} allowed"
    elif not side.governed:
        open_text = f"not isolated: {side.note}"
    else:
        open_text = f"no NetworkPolicy selects it for {what}: all {what} allowed"
    not_isolated = chart.node(f"{p}{tag}_open", open_text, "box",
                              "allowed" if not isolated else "idle")
    chart.link(question, not_isolated, "no" if side.governed else "not governed",
               taken=not isolated)
    by = ", ".join(side.policies)
    peer = "source" if ingress else "destination"
    rules = chart.node(f"{p}{tag}_rules", f"{what.capitalize()} rule admits the {peer} "
                       f"on {query}?", "decision", on_path if isolated else "idle")
    chart.link(question, rules, f"yes: isolated by {by}" if isolated else "yes", taken=isolated)
    admitted = isolated and side.allowed
    denied = isolated and not side.allowed
    admit_text = "Admitted by " + "; ".join(
        f"NetworkPolicy {c.policy} {c.rule}" for c in side.deciding) if admitted \
        else f"Admitted by a rule: {what} allowed"
    yes = chart.node(f"{p}{tag}_admitted", admit_text, "box", "allowed" if admitted else "idle")
    chart.link(rules, yes, "yes", taken=admitted)
    deny_text = (f"DENIED by the {'destination' if ingress else 'source'}'s {what}: "
                 + _denied_checks(side.checks)) if denied \
        else f"Denied: no {what} rule admits it"
    no = chart.node(f"{p}{tag}_denied", deny_text, "box", "denied" if denied else "idle")
    chart.link(rules, no, "no", taken=denied)
    return [(not_isolated, not isolated), (yes, admitted), (no, denied)]


def _denied_checks(checks: Sequence[RuleCheck]) -> str:
    shown = [f"\n- {c.policy} {c.rule}: {_cut(c.reason)}" + (f" [{c.cause}]" if c.cause else "")
             for c in checks[:MAX_CHECKS]]
    if len(checks) > MAX_CHECKS:
        shown.append(f"\n- and {len(checks) - MAX_CHECKS} more rule(s): see explain text")
    return "no rule admits it" + "".join(shown) if shown else "no rule admits it"


def _dns(chart: _Chart, p: str, v: Verdict) -> list[tuple[str, bool]]:
    dns = v.dns
    target = dns.target if dns is not None else "cluster DNS"
    question = chart.node(f"{p}dns", "By hostname: can the source resolve names?",
                          "decision", "path")
    checked = dns is not None
    ok = chart.node(f"{p}dns_ok", f"Lookups to {target} allowed", "box",
                    "allowed" if checked and dns is not None and dns.allowed else "idle")
    chart.link(question, ok, "yes", taken=dns is not None and dns.allowed)
    lacking = " and ".join(dns.lacking) if dns is not None and dns.lacking else "UDP/TCP"
    bad = chart.node(f"{p}dns_denied", f"DNS DENIED: no egress rule allows {lacking} 53; a "
                     "connection by name times out in the lookup [missing-dns-egress]", "box",
                     "denied" if dns is not None and not dns.allowed else "idle")
    chart.link(question, bad, "no", taken=dns is not None and not dns.allowed)
    skip = chart.node(f"{p}dns_none", "No lookup to check: the source is an address or a "
                      "hostNetwork pod", "box", "path" if not checked else "idle")
    chart.link(question, skip, "not a pod", taken=not checked)
    return [(ok, checked and dns is not None and dns.allowed),
            (bad, dns is not None and not dns.allowed), (skip, not checked)]


def _cni(chart: _Chart, p: str, v: Verdict, cni: str) -> list[tuple[str, bool]]:
    known = cni not in ("auto", "unknown", "")
    question = chart.node(f"{p}cni", "CNI enforces NetworkPolicy?", "decision", "path")
    enforcing = known and cni not in NON_ENFORCING_CNIS
    caveat = ""
    if cni == "cilium" and v.query.protocol == "ICMP":
        caveat = ("\nCilium drops ICMP where L4 rules select the pod, unless related to an "
                  "allowed connection [cilium-icmp-denied]")
    yes = chart.node(f"{p}cni_yes", (f"{cni} enforces NetworkPolicy{caveat}" if enforcing
                                     else "The CNI enforces it: the verdict holds"),
                     "box", "path" if enforcing else "idle")
    chart.link(question, yes, f"yes ({cni})" if enforcing else "yes", taken=enforcing)
    flannel = known and cni in NON_ENFORCING_CNIS
    no = chart.node(f"{p}cni_no", "Flannel enforces no NetworkPolicy: nothing above is "
                    "applied and every connection passes [cni-no-enforcement]", "box",
                    "denied" if flannel else "idle")
    chart.link(question, no, "no (Flannel)", taken=flannel)
    unknown = chart.node(f"{p}cni_unknown", "CNI not known (give --cni, or --cluster to "
                         "detect it): assumed to enforce NetworkPolicy as the API specifies",
                         "box", "path" if not known else "idle")
    chart.link(question, unknown, "unknown", taken=not known)
    return [(yes, enforcing), (no, flannel), (unknown, not known)]
