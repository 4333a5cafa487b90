"""The connectivity diff's view of the admin and baseline tiers: which endpoints a changed
admin policy touches, the external pieces of a tiered side, and the causes of a pair's
difference that lie in an admin policy edit (`AdminNetworkPolicy deny-all edited: egress
rule #2 ...: now Deny`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from netpol_fix.engine.admin_changes import AdminPolicyChange, CiliumPolicyChange
from netpol_fix.model.admin_policy import AdminPolicy, AdminRule
from netpol_fix.model.cilium_policy import CiliumPolicy
from netpol_fix.model.connset import ConnSet

if TYPE_CHECKING:
    from netpol_fix.engine.network import Network
    from netpol_fix.engine.tiers import Tiers

Piece = tuple[int, int, ConnSet]
ACTION_VERBS = {"Allow": "allows", "Deny": "denies", "Pass": "passes"}


Change = AdminPolicyChange | CiliumPolicyChange


def _subject_bits(net: Network, policy: AdminPolicy | CiliumPolicy) -> int:
    if net.tiers is None:
        return 0
    if isinstance(policy, CiliumPolicy):
        bits = 0
        for rule_set in policy.rule_sets:
            bits |= net.tiers.cilium.selected_bits.get(id(rule_set), 0)
        return bits
    found = net.tiers.subject_bits.get(id(policy))
    return found if found is not None else 0


def admin_touched(changes: Sequence[Change], old: Network, new: Network) -> set[str]:
    """Keys of the endpoints a changed admin policy's subject selects, in either version:
    only their sides can differ (an admin policy governs its subject's ingress and egress)."""
    keys: set[str] = set()
    for change in changes:
        for net, policy in ((old, change.old), (new, change.new)):
            if policy is not None:
                bits = _subject_bits(net, policy)
                while bits:
                    low = bits & -bits
                    keys.add(net.endpoints[low.bit_length() - 1].key)
                    bits ^= low
    return keys


def tiered_external(tiers: Tiers, endpoints: int, direction: str) -> list[Piece]:
    """(first, last, conns) of the external ranges for the endpoints' side, through the
    tiers (the caller unions overlapping pieces)."""
    items: list[Piece] = []
    ranges = tiers.ranges[direction]
    all_ranges = (1 << len(ranges)) - 1
    bits = endpoints
    while bits:
        low = bits & -bits
        i = low.bit_length() - 1
        bits ^= low
        for members, conns in tiers.side_parts(i, direction, all_ranges, True):
            if not conns:
                continue
            m = members
            while m:
                r_low = m & -m
                r = r_low.bit_length() - 1
                m ^= r_low
                items.append((ranges[r][0], ranges[r][1], conns))
    return items


def _rule_matches(net: Network, rule: AdminRule, other: str | None,
                  other_range: tuple[int, int] | None, index: dict[str, int]) -> bool:
    if other_range is not None:
        first, last = other_range
        for peer in rule.peers:
            for network in peer.networks:
                if network.version == 4 and int(network.network_address) <= last \
                        and first <= int(network.broadcast_address):
                    return True
        return False
    if net.tiers is None or other is None:
        return False
    return bool(net.tiers.rule_bits(rule) & index.get(other, 0))


def admin_causes(changes: Sequence[Change], nets: tuple[Network, Network],
                 indexes: tuple[dict[str, int], dict[str, int]], src: str | None,
                 dst: str | None, src_range: tuple[int, int] | None,
                 dst_range: tuple[int, int] | None) -> list[tuple[str, str, str]]:
    """(subject, change, detail) for each admin policy change that concerns the pair: its
    subject selects the destination (ingress) or source (egress) in either version, and a
    changed part (priority, subject, a rule whose peers match the other end) touches it."""
    found: list[tuple[str, str, str]] = []
    for change in changes:
        for endpoint, other, other_range, direction in ((dst, src, src_range, "Ingress"),
                                                        (src, dst, dst_range, "Egress")):
            if endpoint is None:
                continue
            selected = [bool(policy is not None and _subject_bits(net, policy)
                             & index.get(endpoint, 0))
                        for net, index, policy in zip(nets, indexes, (change.old, change.new),
                                                      strict=True)]
            if not any(selected):
                continue
            side = direction.lower()
            other_name = other if other is not None else "the range"
            if isinstance(change, CiliumPolicyChange):
                # a Cilium policy's rules match by labels and entities: named per side
                if change.kind != "edited":
                    verb = "selects" if change.kind == "added" else "selected"
                    found.append((change.subject, change.kind,
                                  f"{change.kind} ({verb} {endpoint} for {side})"))
                elif direction in change.changed_directions():
                    found.append((change.subject, "edited",
                                  (f"edited: {side} rules of the rule sets selecting "
                                  f"{endpoint}")))
                continue
            if change.kind != "edited":
                version = 1 if change.kind == "added" else 0
                policy = change.new if change.kind == "added" else change.old
                assert policy is not None
                matching = [r for r in policy.rules(direction)
                            if _rule_matches(nets[version], r, other, other_range,
                                             indexes[version])]
                if not matching:
                    continue
                verb = "selects" if change.kind == "added" else "selected"
                first = matching[0]
                found.append((change.subject, change.kind,
                              (f"{change.kind} ({verb} {endpoint} for {side}; first matching "
                              f"rule {first.name} {ACTION_VERBS[first.action]} {other_name})")))
                continue
            parts = list(change.header_edits()) if selected[0] != selected[1] or \
                change.header_edits() else []
            for position, before, after in change.rule_edits(direction):
                touches = (before is not None and _rule_matches(
                    nets[0], before, other, other_range, indexes[0])) or (
                    after is not None and _rule_matches(
                        nets[1], after, other, other_range, indexes[1]))
                if touches:
                    parts.append(change.edit_words(direction, position, before, after))
            if parts:
                found.append((change.subject, "edited", "edited: " + "; ".join(parts)))
    return found
