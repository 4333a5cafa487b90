"""one-sided-allow's fix where only a CiliumNetworkPolicy isolates the denying side.

The same rule as for NetworkPolicies (rules/one_sided_allow.py), in Cilium's kind: the
counterpart rules (rules/counterparts.py) are appended to the isolating rule set when it
selects exactly the affected workloads and its endpointSelector names them (an identity
label: fixes/label_roles.py), and all of them need the same rules; otherwise appending
would let the rule set's other pods through, now or when created later, so a new
CiliumNetworkPolicy per affected workload, selecting it by all its labels, carries them
(fixes/cilium_rules.py). What the fix opens is the tiered engine's answer
(fixes/effect.pairs_opened_by_cilium_rules): Cilium allows join the NetworkPolicy tier,
below admin Denies and Cilium deny rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from netpol_fix.engine.network import Network, iter_bits
from netpol_fix.fixes.cilium_rules import (
    PEERS,
    append_cilium_rules_operations,
    workload_cilium_policy,
)
from netpol_fix.fixes.effect import (
    OpenedPair,
    describe_cilium_rules,
    listed_opens,
    pairs_opened_by_cilium_rules,
)
from netpol_fix.fixes.label_roles import LabelRoles
from netpol_fix.inventory.cilium_policies import parse_cilium_policy
from netpol_fix.model.cilium_policy import CiliumRule
from netpol_fix.model.findings import UNSAFE, Fix, NewObject, Patch
from netpol_fix.rules.cilium_side import CiliumEdit


class CiliumNewRule(Protocol):
    """A rule the fix adds (one_sided_allow.NewRule): as written, and as parsed."""

    @property
    def raw(self) -> dict[str, Any]: ...

    @property
    def ports_key(self) -> str: ...

    @property
    def cilium(self) -> CiliumRule | None: ...


def merged_cilium(rules: list[CiliumNewRule], direction: str) -> list[dict[str, Any]]:
    """The rules as written, those on the same ports and ICMP types made one rule with
    their endpoint selectors together: `fromEndpoints: [a, b]` admits what `[a]` and `[b]`
    admit on the same `toPorts` (Cilium's "policies are additive", selectors of one rule
    are alternatives)."""
    key = PEERS[direction]
    by_ports: dict[str, dict[str, Any]] = {}
    for rule in rules:
        same = by_ports.setdefault(rule.ports_key, {**rule.raw, key: []})
        same[key] += [s for s in rule.raw[key] if s not in same[key]]
    return list(by_ports.values())


def _parsed(rules: list[CiliumNewRule]) -> list[CiliumRule]:
    return [rule.cilium for rule in rules if rule.cilium is not None]


def cilium_gap_fix(net: Network, edit: CiliumEdit, direction: str,
                   needs: Mapping[int, Mapping[str, CiliumNewRule]], peers: str,
                   taken: set[tuple[str, str]], roles: LabelRoles, limit: int | None
                   ) -> Fix | None:
    """The fix for the gaps of one Cilium rule set in one direction (see the module
    docstring); `needs`: per affected endpoint, the rules it needs."""
    tiers = net.tiers
    if tiers is None or edit.source is None:
        return None
    endpoints = sorted(needs)
    affected = 0
    for i in endpoints:
        affected |= 1 << i
    field_name = direction.lower()
    towards = "to" if direction == "Egress" else "from"
    selected = tiers.cilium.selected_bits.get(id(edit.rule_set), 0)
    selector = edit.pod_selector
    exact = edit.appendable and selected == affected and selector is not None \
        and roles.names_workload(selector) and len({tuple(needs[i]) for i in endpoints}) == 1
    if exact or (edit.appendable and any(net.endpoints[i].representative for i in endpoints)):
        rules = list(needs[endpoints[0]].values()) if exact else list(
            {key: rule for i in endpoints for key, rule in needs[i].items()}.values())
        written = merged_cilium(rules, direction)
        operations = append_cilium_rules_operations(edit.policy, edit.rule_set.index,
                                                    direction, written)
        parsed = _parsed(rules)
        pairs = pairs_opened_by_cilium_rules(net, selected, direction, parsed)
        return Fix(UNSAFE, f"append {len(written)} {field_name} rule(s) to {edit.title} "
                           f"{towards} {peers} on the ports the other side allows",
                   [Patch(edit.ref, operations, edit.source)], [],
                   opens_rules=describe_cilium_rules(edit.namespace, selector, direction,
                                                     parsed),
                   **listed_opens(net, pairs, limit))
    creates: list[NewObject] = []
    opened: list[OpenedPair] = []
    said: list[str] = []
    for i in endpoints:
        endpoint = net.endpoints[i]
        if endpoint.representative or not endpoint.labels:
            return None  # nothing to select it by
        rules = list(needs[i].values())
        obj = workload_cilium_policy(net, endpoint, direction, merged_cilium(rules, direction),
                                     taken)
        new, _warnings = parse_cilium_policy(obj)
        subject = new.rule_sets[0].endpoint_selector
        assert subject is not None
        new_selected = tiers.cilium.endpoint_bits(subject) & net.pod_network
        if any(not tiers.isolated(j, direction) for j in iter_bits(new_selected)):
            return None  # its labels select pods nothing isolates: it would isolate them
        parsed = _parsed(rules)
        opened += pairs_opened_by_cilium_rules(net, new_selected, direction, parsed)
        said += describe_cilium_rules(endpoint.namespace, subject.pod_selector, direction,
                                      parsed)
        creates.append(NewObject(obj, after=edit.source))
    names = ", ".join(f"{c.ref.namespace}/{c.ref.name}" for c in creates)
    if not edit.appendable:
        why = "is cluster-wide: the platform's"
    elif selector is None or selector.is_empty:
        why = "selects every pod of the namespace, those created later too"
    elif selected != affected or not roles.names_workload(selector):
        why = "selects more"
    else:
        why = "would give them all the same rules; they need different ones"
    return Fix(UNSAFE, f"create CiliumNetworkPolicy {names} with the {field_name} rules "
                       f"{towards} {peers} on the ports the other side allows, for those "
                       f"pods only ({edit.title} {why})", [], creates,
               opens_rules=list(dict.fromkeys(said)), **listed_opens(net, opened, limit))

