"""One side of one connection walked through the tiers, step by step, for `explain`.

The chain an on-call engineer needs when an admin policy is in play: which admin policy
decided (or passed), whether the NetworkPolicy tier was reached and what it said, and
whether the baseline was reached:

    [ANP allow-monitoring, priority 10] Pass -> [NetworkPolicy shop/default-deny] denied:
    no rule admits mon/prom[Pod] -> not reached: BANP default

Each admin step names the rule and its file:line. The connections the side admits come
from the engine (engine/tiers.py), never from the chain's words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netpol_fix.inventory.sources import locate_line
from netpol_fix.model.admin_policy import ADMIN_TIER, ALLOW, BASELINE_TIER, DENY, PASS, AdminRule
from netpol_fix.model.cilium_policy import CiliumPolicy, CiliumRule
from netpol_fix.model.connset import ConnSet

if TYPE_CHECKING:
    from netpol_fix.engine.network import Network
    from netpol_fix.engine.tiers import TierRule
    from netpol_fix.engine.verdict import Query, SideVerdict


@dataclass(frozen=True)
class TierStep:
    tier: str
    """`Admin`, `NetworkPolicy`, `Baseline` or `default`."""
    subject: str
    """`ANP allow-monitoring, priority 10`, `NetworkPolicy shop/default-deny`, ..."""
    decision: str
    """Allow, Deny, Pass, `allowed`, `denied`, `no rule matches`, `not reached`."""
    detail: str = ""
    location: str | None = None
    policy: Any = field(default=None, compare=False)
    """The deciding policy object (AdminPolicy, CiliumPolicy), for rules that fix it."""
    rule: Any = field(default=None, compare=False)

    def text(self, short: bool = False) -> str:
        """The step; `short` (the one-line chain) leaves out the admin and baseline rules'
        details, which the step-per-line form gives with file:line."""
        if self.decision == "not reached":
            return f"not reached: {self.subject}"
        words = f"[{self.subject}] {self.decision}"
        if self.detail and not (short and self.tier in ("Admin", "Baseline", "default")):
            words += f": {self.detail}"
        return words

    def to_json(self) -> dict[str, Any]:
        return {"tier": self.tier, "subject": self.subject, "decision": self.decision,
                "detail": self.detail, "location": self.location}


@dataclass
class TierChain:
    steps: list[TierStep] = field(default_factory=list)

    def text(self) -> str:
        return " -> ".join(step.text(short=True) for step in self.steps)

    def to_json(self) -> list[dict[str, Any]]:
        return [step.to_json() for step in self.steps]


def _where(tier_rule: TierRule) -> str | None:
    policy, rule = tier_rule.policy, tier_rule.rule
    source = policy.source
    if source is None or source.location is None:
        return None
    line = locate_line(source, ("spec", rule.direction.lower(), rule.index)) \
        or source.location.line
    return f"{source.location.file}:{line}"


def _subject(tier_rule: TierRule) -> str:
    policy = tier_rule.policy
    if policy.priority is None:
        return f"{policy.short_kind} {policy.name}"
    return f"{policy.short_kind} {policy.name}, priority {policy.priority}"


def _query_conns(query: Query, port: int | None) -> ConnSet:
    if query.protocol not in ("TCP", "UDP", "SCTP"):
        return ConnSet(other=True)
    if port is None:
        return ConnSet.ports(query.protocol, 1, 65535)
    return ConnSet.ports(query.protocol, port)


def _matching(net: Network, rows: list[TierRule], other: int | None, address: object,
              ports: tuple[Any, ...], wanted: ConnSet) -> TierRule | None:
    """The first rule whose peers match the other end and whose ports overlap the query."""
    assert net.tiers is not None
    for tier_rule in rows:
        rule = tier_rule.rule
        if other is not None:
            if not net.tiers.rule_bits(rule) >> other & 1:
                continue
        elif not _admits_address(rule, address):
            continue
        conns = rule.conns_for(ports) if other is not None or rule.direction == "Ingress" \
            else rule.numeric_conns()
        if conns & wanted:
            return tier_rule
    return None


def _admits_address(rule: AdminRule, address: object) -> bool:
    for peer in rule.peers:
        for network in peer.networks:
            if getattr(address, "version", None) == network.version \
                    and address.subnet_of(network):  # type: ignore[attr-defined]
                return True
    return False


def tier_chain(net: Network, side: SideVerdict, index: int, other: int | None,
               address: object, query: Query, port: int | None,
               ports: tuple[Any, ...]) -> TierChain:
    """The chain for endpoint `index`'s side towards `other` (an endpoint) or `address`;
    `side` is the NetworkPolicy tier's verdict, already computed."""
    assert net.tiers is not None
    tiers = net.tiers
    direction = side.direction
    wanted = _query_conns(query, port)
    chain = TierChain()
    peer_name = net.endpoints[other].key if other is not None else str(address)
    admin_rows = tiers.row(ADMIN_TIER, direction, index)
    hit = _matching(net, admin_rows, other, address, ports, wanted)
    if hit is not None:
        rule = hit.rule
        chain.steps.append(TierStep(
            "Admin", _subject(hit), rule.action,
            f"{rule.label} matches {peer_name}", _where(hit), hit.policy, rule))
    elif admin_rows:
        names = list(dict.fromkeys(_subject(t) for t in admin_rows))
        chain.steps.append(TierStep("Admin", "; ".join(names), "no rule matches",
                                    f"{peer_name} goes on to the next tier"))
    baseline = tiers.baseline[0] if tiers.baseline else None
    baseline_name = f"{baseline.short_kind} {baseline.name}" if baseline else None
    if hit is not None and hit.rule.action in (ALLOW, DENY):
        chain.steps.append(TierStep("NetworkPolicy", "NetworkPolicy", "not reached"))
        if baseline_name:
            chain.steps.append(TierStep("Baseline", baseline_name, "not reached"))
        return chain
    assert hit is None or hit.rule.action == PASS
    np_step = _networkpolicy_step(net, side, index, other, address, query, ports, wanted,
                                  peer_name)
    if np_step is not None:
        chain.steps.append(np_step)
        if baseline_name:
            chain.steps.append(TierStep("Baseline", baseline_name, "not reached"))
        return chain
    chain.steps.append(TierStep("NetworkPolicy", "NetworkPolicy", "none selects",
                                f"no policy isolates {side.endpoint} for "
                                f"{direction.lower()}"))
    base_rows = tiers.row(BASELINE_TIER, direction, index)
    base_hit = _matching(net, base_rows, other, address, ports, wanted)
    if base_hit is not None:
        chain.steps.append(TierStep("Baseline", _subject(base_hit), base_hit.rule.action,
                                    f"{base_hit.rule.label} matches {peer_name}",
                                    _where(base_hit), base_hit.policy, base_hit.rule))
        return chain
    if base_rows:
        chain.steps.append(TierStep("Baseline", baseline_name or "baseline", "no rule matches"))
    chain.steps.append(TierStep("default", "default", "allowed",
                                "no tier decided: the Kubernetes default allows"))
    return chain




def _cilium_where(policy: CiliumPolicy, rule: CiliumRule) -> str | None:
    source = policy.source
    if source is None or source.location is None:
        return None
    spec: tuple[str | int, ...] = ("spec",)
    for rule_set in policy.rule_sets:
        if any(r is rule for r in rule_set.rules):
            spec = ("spec",) if "spec" in source.obj and rule_set.index == 0 \
                else ("specs", rule_set.index - (1 if "spec" in source.obj else 0))
    line = locate_line(source, (*spec, rule.section, rule.index)) or source.location.line
    return f"{source.location.file}:{line}"


def _cilium_matches(net: Network, rule: CiliumRule, other: int | None, address: object,
                    ports: tuple[Any, ...], wanted: ConnSet) -> bool:
    from netpol_fix.engine.cilium_tier import cilium_intervals
    assert net.tiers is not None
    if other is not None:
        if not net.tiers.cilium.rule_bits(rule) >> other & 1:
            return False
        return bool(rule.conns_for(ports) & wanted)
    first = int(getattr(address, "network_address", 0))
    last = int(getattr(address, "broadcast_address", 0))
    if getattr(address, "version", 4) != 4 or not any(
            a <= first and last <= b for a, b in cilium_intervals(rule)):
        return False
    conns = rule.conns_for(ports) if rule.direction == "Ingress" else rule.numeric_conns()
    return bool(conns & wanted)


def _networkpolicy_step(net: Network, side: SideVerdict, index: int, other: int | None,
                        address: object, query: Query, ports: tuple[Any, ...],
                        wanted: ConnSet, peer_name: str) -> TierStep | None:
    """The NetworkPolicy tier's step (NetworkPolicies and Cilium policies together), or
    None when nothing there decides this side (then the baseline is next)."""
    assert net.tiers is not None
    tiers = net.tiers
    direction = side.direction
    cilium_rows = tiers.cilium.rows[direction][index]
    for policy, rule in cilium_rows:
        if rule.deny and _cilium_matches(net, rule, other, address, ports, wanted):
            return TierStep("NetworkPolicy", f"{policy.short_kind} {policy.key}", "denied",
                            f"{rule.label} matches {peer_name} (deny rules beat every "
                            "allow)", _cilium_where(policy, rule), policy, rule)
    if not tiers.isolated(index, direction):
        return None
    isolating = list(side.policies) + [
        f"{p.short_kind} {p.key}" for p in tiers.cilium.isolating[direction][index]]
    subject = "NetworkPolicy " + ", ".join(isolating) if side.policies else ", ".join(isolating)
    admitting = [c for c in side.checks if c.admits]
    if admitting:
        return TierStep("NetworkPolicy", f"NetworkPolicy {admitting[0].policy}", "allowed",
                        f"{admitting[0].rule} admits {peer_name}")
    for policy, rule in cilium_rows:
        if not rule.deny and _cilium_matches(net, rule, other, address, ports, wanted):
            detail = f"{rule.label} admits {peer_name}"
            if rule.l7:
                detail += ("; its " + "; ".join(rule.l7) + " are decided at run time by "
                           "the proxy (requests may still be refused)")
            return TierStep("NetworkPolicy", f"{policy.short_kind} {policy.key}", "allowed",
                            detail, _cilium_where(policy, rule))
    runtime = sorted({r for _p, rule in cilium_rows if not rule.deny for r in rule.runtime
                      if not r.startswith("L7")})
    detail = f"no rule admits {peer_name} on {query.describe()}"
    if runtime:
        detail += (f"; {', '.join(runtime)} peers are decided at run time and may admit it "
                   "(not modelled)")
    cilium_only = not side.policies
    first = tiers.cilium.isolating[direction][index][0] if cilium_only else None
    return TierStep("NetworkPolicy", subject, "denied", detail, None, first)


def apply_tiers(net: Network, side: SideVerdict, index: int, other: int | None,
                address: object, query: Query, port: int | None,
                ports: tuple[Any, ...]) -> None:
    """Give a side its chain and the connections the tiers admit (the NetworkPolicy checks
    stay as the NetworkPolicy tier's trace)."""
    assert net.tiers is not None
    side.tiers = tier_chain(net, side, index, other, address, query, port, ports)
    if not side.isolated:
        side.note = (f"no NetworkPolicy selects {side.endpoint} for {side.direction}; the "
                     "tiers decide (see tiers)")
    if other is not None:
        side.conns = net.tiers.pair_side(index, side.direction, other)
    else:
        side.conns = net.tiers.address_conns(index, side.direction, address)


__all__ = ["TierChain", "TierStep", "apply_tiers", "tier_chain"]
