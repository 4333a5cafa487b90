"""`drops` output: text (one block per group, most frequent first), JSON (the issue's
shape), Markdown for an incident note, SARIF on the policies named."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from netpol_fix import __version__
from netpol_fix.drops.explain import (
    CLASSES,
    EXPLAINED,
    EXPLICIT_DENY,
    GAP,
    UNRESOLVED_CLASS,
    Explanation,
)
from netpol_fix.drops.group import Group
from netpol_fix.rules.registry import RULES

FORMATS = ("text", "json", "md", "sarif")
SHOWN_FLOWS = 8
SHOWN_REASONS = 6
TITLES = {EXPLAINED: "explained by the sources", EXPLICIT_DENY: "explicit deny",
          "not-explained": "not explained by the sources", "not-policy": "not a policy drop",
          UNRESOLVED_CLASS: "unresolved", GAP: "enforcement gap"}


@dataclass
class DropsReport:
    drops: list[Explanation]
    """Dropped groups, most frequent first (unresolved ones included)."""
    gaps: list[Explanation]
    counts: dict[str, int]
    """flows, dropped, forwarded, other (verdicts neither dropped nor forwarded)."""
    bad_lines: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        by_class = {c: sum(1 for e in self.drops if e.classification == c) for c in CLASSES
                    if c != GAP}
        return {**self.counts, "groups": len(self.drops), **by_class,
                "enforcement-gap": len(self.gaps), "bad_lines": dict(self.bad_lines)}


def where(group: Group) -> str:
    protocol = group.protocol or "?"
    if protocol.startswith("ICMP"):
        what = f"{protocol} type {group.port}" if group.port is not None else protocol
    else:
        what = f"{protocol} {group.port}" if group.port is not None else protocol
    return f"{group.source.ref} -> {group.destination.ref} {what}"


def item_json(e: Explanation) -> dict[str, Any]:
    g = e.group
    icmp = (g.protocol or "").startswith("ICMP")
    out: dict[str, Any] = {
        "source": g.source.ref, "destination": g.destination.ref,
        "protocol": g.protocol, "port": None if icmp else g.port,
        "direction": g.direction, "reason": g.reason, "count": g.count,
        "first_seen": g.first_seen, "last_seen": g.last_seen,
        "verdict": e.verdict, "causes": e.causes,
        "policies": [p.to_json() for p in e.policies],
        "fix": e.fix.to_json() if e.fix is not None else None,
        "explanation": e.explanation,
        "classification": e.classification,
        "details": e.reasons,
    }
    if icmp:
        out["icmp_type"] = g.port
    return out


def to_json(report: DropsReport) -> dict[str, Any]:
    drops = [e for e in report.drops if e.classification != UNRESOLVED_CLASS]
    unresolved = [e for e in report.drops if e.classification == UNRESOLVED_CLASS]
    return {"drops": [item_json(e) for e in drops],
            "unresolved": [item_json(e) for e in unresolved],
            "enforcement_gaps": [item_json(e) for e in report.gaps],
            "summary": report.summary()}


def render_json(report: DropsReport) -> str:
    return json.dumps(to_json(report), indent=2) + "\n"


def block(e: Explanation) -> list[str]:
    """One group as text."""
    g = e.group
    seen = ""
    if g.first_seen:
        seen = f"  {g.first_seen}" + (f" .. {g.last_seen}" if g.last_seen != g.first_seen
                                      else "")
    how = ", ".join(x for x in ((g.direction or "").lower(), g.reason or "") if x)
    observed = "FORWARDED" if e.classification == GAP else "DROPPED"
    lines = [f"{observed} x{g.count}  {where(g)}" + (f" ({how})" if how else "") + seen,
             f"  {TITLES.get(e.classification, e.classification)}: {e.explanation}"]
    for side in (g.source, g.destination):
        if side.kind in ("observed",):
            lines.append(f"  note: {side.ref} {side.how}")
    if e.causes:
        lines.append(f"  causes: {', '.join(e.causes)}")
    for policy in e.policies:
        lines.append(f"  policy: {policy}")
    label = "why" if e.classification in (EXPLAINED, EXPLICIT_DENY) else "likely"
    for reason in e.reasons[:SHOWN_REASONS]:
        lines.append(f"  {label}: {reason}")
    if len(e.reasons) > SHOWN_REASONS:
        lines.append(f"  ... and {len(e.reasons) - SHOWN_REASONS} more")
    if e.fix is not None:
        lines.append(f"  fix ({e.fix.applicability}): {e.fix.description}")
        for flow in e.fix.opens[:SHOWN_FLOWS]:
            lines.append(f"    opens {flow}")
        if len(e.fix.opens) > SHOWN_FLOWS:
            lines.append(f"    ... and {len(e.fix.opens) - SHOWN_FLOWS} more flows")
    return lines


def summary_line(report: DropsReport) -> str:
    s = report.summary()
    parts = [f"{s[c]} {TITLES[c]}" for c in CLASSES if c != GAP and s.get(c)]
    if report.gaps:
        parts.append(f"{len(report.gaps)} enforcement gap(s)")
    groups = f"{s['groups']} group(s) of {s['dropped']} dropped flow(s)"
    return (f"{groups}" + (f": {', '.join(parts)}" if parts else "") +
            f"; {s['forwarded']} forwarded flow(s) counted.")


def render_text(report: DropsReport) -> str:
    lines: list[str] = []
    for e in report.drops + report.gaps:
        lines += block(e)
        lines.append("")
    if not report.drops and not report.gaps:
        lines.append("No dropped flows.")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_md(report: DropsReport) -> str:
    """An incident note: the summary, a table of the groups, then each group's details."""
    lines = ["# Observed drops", "", summary_line(report), ""]
    items = report.drops + report.gaps
    if items:
        lines += [("| # | count | source | destination | port | direction | reason | "
                   "finding | causes |"), "|---|---|---|---|---|---|---|---|---|"]
        for n, e in enumerate(items, start=1):
            g = e.group
            port = where(g).rsplit(" ", 2)[-2:]
            lines.append(f"| {n} | {g.count} | `{_cell(g.source.ref)}` | "
                         f"`{_cell(g.destination.ref)}` | {_cell(' '.join(port))} | "
                         f"{_cell(g.direction or '')} | {_cell(g.reason or '')} | "
                         f"{_cell(TITLES.get(e.classification, e.classification))} | "
                         f"{_cell(', '.join(e.causes))} |")
        lines.append("")
    for n, e in enumerate(items, start=1):
        g = e.group
        lines += [f"## {n}. {_cell(where(g))}", "",
                  (f"**{TITLES.get(e.classification, e.classification)}**: "
                   f"{e.explanation}"), ""]
        if g.first_seen:
            lines += [f"- seen {g.count} time(s), {g.first_seen} to {g.last_seen}"]
        for policy in e.policies:
            lines.append(f"- policy: `{policy}`")
        for reason in e.reasons:
            lines.append(f"- {reason}")
        if e.fix is not None:
            lines += ["", f"Fix ({e.fix.applicability}): {e.fix.description}", ""]
            lines += [f"- opens `{flow}`" for flow in e.fix.opens[:SHOWN_FLOWS]]
        lines.append("")
    return "\n".join(lines)


def render_sarif(report: DropsReport) -> str:
    """SARIF 2.1.0: one result per explained, explicit-deny or gap group, located on each
    policy it names that the sources hold (file and line)."""
    used: list[str] = []
    results = []
    for e in report.drops + report.gaps:
        if e.classification not in (EXPLAINED, EXPLICIT_DENY, GAP):
            continue
        rule = e.causes[0] if e.causes else (
            "explicit-deny" if e.classification == EXPLICIT_DENY else
            "enforcement-gap" if e.classification == GAP else "observed-drop")
        if rule not in used:
            used.append(rule)
        locations = [{"physicalLocation": {"artifactLocation": {"uri": p.file},
                                           "region": {"startLine": p.line or 1}}}
                     for p in e.policies if p.file]
        result: dict[str, Any] = {
            "ruleId": rule, "ruleIndex": used.index(rule),
            "level": "warning" if e.classification == EXPLICIT_DENY else "error",
            "message": {"text": f"{where(e.group)}: dropped {e.group.count} time(s): "
                                f"{e.explanation}" if e.classification != GAP else
                                f"{where(e.group)}: {e.explanation}"},
            "properties": {"classification": e.classification, "count": e.group.count,
                           "causes": e.causes, "firstSeen": e.group.first_seen,
                           "lastSeen": e.group.last_seen},
        }
        if locations:
            result["locations"] = locations
        results.append(result)
    rules = []
    for rule_id in used:
        known = RULES.get(rule_id)
        text = known.summary if known is not None else {
            "explicit-deny": "Observed drops by an explicit deny rule",
            "enforcement-gap": "Connections the sources deny that the dataplane forwarded",
            "observed-drop": "Observed drops the sources' policies explain"}[rule_id]
        rules.append({"id": rule_id, "shortDescription": {"text": text}})
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "netpol-fix", "version": __version__,
                                      "informationUri":
                                          "https://github.com/netpol-fix/netpol-fix",
                                      "rules": rules}},
                  "results": results}],
    }
    return json.dumps(sarif, indent=2) + "\n"


def render(report: DropsReport, fmt: str) -> str:
    return {"text": render_text, "json": render_json, "md": render_md,
            "sarif": render_sarif}[fmt](report)


def new_group_text(e: Explanation) -> str:
    """What `--follow` prints when a group first appears."""
    return "\n".join(["NEW " + block(e)[0], *block(e)[1:]]) + "\n"


def sequence_json(items: Sequence[Explanation]) -> list[dict[str, Any]]:
    return [item_json(e) for e in items]
