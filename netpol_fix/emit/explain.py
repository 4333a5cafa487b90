"""`explain` output: the verdict and its trace, as text for people and JSON for programs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from netpol_fix.engine.verdict import SideVerdict, Verdict


def render_text(verdicts: Sequence[Verdict]) -> str:
    return "\n".join(_verdict_text(v) for v in verdicts)


def _verdict_text(v: Verdict) -> str:
    word = "ALLOWED" if v.allowed else "DENIED"
    if v.refused:
        word = "REFUSED (no endpoint on that port)"
    elif v.allowed and v.dns is not None and not v.dns.allowed:
        word = ("ALLOWED by address, but a connection by name FAILS: the DNS lookup is "
                "denied (step 3)")
    if v.uncertain and not v.refused:
        word += " (UNCERTAIN: policy kinds not read, see the verdict)"
    lines = [f"{v.source} => {v.destination} on {v.query.describe()}: {word}", ""]
    if v.preamble:
        lines += [f"0. {note}" for note in v.preamble]
        lines.append("")
    if v.service:
        lines += v.service
        lines.append("")
    lines += _side_text(1, "Destination ingress", v.ingress, v.locations)
    lines.append("")
    lines += _side_text(2, "Source egress", v.egress, v.locations)
    if v.dns is not None:
        lines.append("")
        lines.append(f"3. DNS of {v.egress.endpoint} (to {v.dns.target})")
        if v.dns.allowed:
            lines.append("   => allowed")
        else:
            lines.append(f"   - no egress rule allows {' and '.join(v.dns.lacking)} DNS: "
                         "a connection by name times out in the lookup")
            lines.append("   => denied")
    if v.notes:
        lines.append("")
        lines += [f"Note: {n}" for n in v.notes]
    lines.append("")
    if v.refused:
        lines.append(f"Verdict: refused: {v.refused}")
        return "\n".join(lines) + "\n"
    if v.allowed:
        lines.append(f"Verdict: allowed ({_conns(v)})")
        lines += _uncertain_text(v)
        if v.causes:
            lines.append("  but the source cannot resolve names (step 3): a connection by "
                         "name times out in the lookup")
            lines.append(f"Known causes: {', '.join(v.causes)} (see `netpol-fix rule ID`)")
        return "\n".join(lines) + "\n"
    denied = [s for s in (v.egress, v.ingress) if not s.allowed]
    which = " and ".join(
        "the source's egress" if s.direction == "Egress" else "the destination's ingress"
        for s in denied)
    lines.append(f"Verdict: denied by {which}")
    lines += _uncertain_text(v)
    if len(denied) == 1:
        other = v.ingress if denied[0] is v.egress else v.egress
        if other.isolated:
            allowing = sorted({c.policy for c in other.deciding})
            named = f" ({', '.join(allowing)})" if allowing else ""
            lines.append(
                f"  (one-sided: the other side's policy{named} allows it; a connection needs "
                "the source's egress and the destination's ingress)")
    known = v.causes
    if known:
        lines.append(f"Known causes: {', '.join(known)} (see `netpol-fix rule ID`)")
    return "\n".join(lines) + "\n"


def _uncertain_text(v: Verdict) -> list[str]:
    """What the verdict could not take into account: a confident verdict that an unread
    AdminNetworkPolicy contradicts is the worst answer, so the doubt is said next to it."""
    if not v.uncertain:
        return []
    kinds = ", ".join(v.uncertain)
    return [(f"  UNCERTAIN: served by the cluster but not read: {kinds}; this verdict leaves "
            "them out and may be wrong (grant `list` on them)")]


def _conns(v: Verdict) -> str:
    conns = v.conns
    return f"allowed connections: {conns.describe()}" if conns else "no connections"


def _side_text(step: int, title: str, side: SideVerdict,
               locations: dict[str, str]) -> list[str]:
    lines = [f"{step}. {title} of {side.endpoint}"]
    if side.tiers is not None:
        return lines + _tier_lines(side)
    if not side.governed or not side.isolated:
        lines.append(f"   not isolated: {side.note}")
        lines.append("   => allowed")
        return lines
    named = [f"{key} ({locations[key]})" if key in locations else key for key in side.policies]
    lines.append(f"   isolated by: {', '.join(named)}")
    for check in side.checks:
        mark = "+" if check.admits else "-"
        lines.append(f"   {mark} NetworkPolicy {check.policy} {check.rule}: {check.reason}")
    allowed = side.conns.describe() if side.conns else "No Connections"
    lines.append(f"   rules admit for this pair: {allowed}")
    lines.append("   => allowed" if side.allowed else "   => denied")
    return lines


def _tier_lines(side: SideVerdict) -> list[str]:
    """The chain through the tiers, one step a line with its file:line, the NetworkPolicy
    tier's rule checks under its step, then the side's result."""
    lines = []
    for i, step in enumerate(side.tiers.steps):
        arrow = "   " if i == 0 else "   -> "
        where = f"  ({step.location})" if step.location else ""
        lines.append(f"{arrow}{step.text()}{where}")
        if step.tier == "NetworkPolicy" and side.isolated and step.decision != "not reached":
            for check in side.checks:
                mark = "+" if check.admits else "-"
                lines.append(f"        {mark} NetworkPolicy {check.policy} {check.rule}: "
                             f"{check.reason}")
    allowed = side.conns.describe() if side.conns else "No Connections"
    lines.append(f"   chain: {side.tiers.text()}")
    if any("decided at run time" in step.detail for step in side.tiers.steps):
        lines.append("   decided at run time: the verdict holds for L3/L4; the parts named "
                     "above are enforced by the agent or proxy")
    lines.append(f"   the tiers admit for this pair: {allowed}")
    lines.append("   => allowed" if side.allowed else "   => denied")
    return lines


def to_json(verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """One object for one verdict (the spec's shape); `verdicts` lists all of them."""
    items = [_verdict_json(v) for v in verdicts]
    first = dict(items[0])
    first["allowed"] = all(v.allowed for v in verdicts)
    if len(items) > 1:
        first["verdicts"] = items
    return first


def _verdict_json(v: Verdict) -> dict[str, Any]:
    return {
        "allowed": v.allowed,
        "refused": v.refused,
        "byName": v.allowed and (v.dns is None or v.dns.allowed),
        "from": v.source,
        "to": v.destination,
        "protocol": v.query.protocol,
        "port": v.query.port,
        "ingress": v.ingress.to_json(),
        "egress": v.egress.to_json(),
        "allowedConnections": v.conns.describe() if v.conns else "No Connections",
        "dns": v.dns.to_json() if v.dns is not None else None,
        "causes": v.causes,
        "uncertain": v.uncertain,
        "notes": v.preamble + v.notes,
        "policyLocations": v.locations,
        "service": v.service,
        "fix": None,
    }


def render_json(verdicts: Sequence[Verdict]) -> str:
    return json.dumps(to_json(verdicts), indent=2) + "\n"
