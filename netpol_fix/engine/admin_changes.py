"""What changed in the admin and baseline tiers between two inventories, said per pair.

AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy objects are
matched by kind and name. Unlike a NetworkPolicy's rules, an admin policy's rules are
ordered (the first match decides), so the content compared keeps their order: swapping
two rules is an edit, and the diff names it.
"""

from __future__ import annotations

from dataclasses import dataclass

from netpol_fix.model.admin_policy import AdminPeer, AdminPolicy, AdminRule
from netpol_fix.model.cilium_policy import CiliumPolicy

DIRECTIONS = ("Ingress", "Egress")


def _peer_content(peer: AdminPeer) -> tuple[object, ...]:
    return (peer.kind, peer.namespace_selector, peer.pod_selector, peer.node_selector,
            peer.networks, peer.domain_names)


def rule_content(rule: AdminRule) -> tuple[object, ...]:
    return (rule.name, rule.action, tuple(map(_peer_content, rule.peers)), rule.ports)


def describe_admin_rule(rule: AdminRule) -> str:
    peers = "; ".join(str(p) for p in rule.peers)
    ports = ", ".join(str(p) for p in rule.ports) if rule.ports else "all ports"
    return f"{rule.action} {peers} on {ports}"


def policy_content(policy: AdminPolicy) -> tuple[object, ...]:
    return (policy.tier, policy.priority, policy.subject_namespaces, policy.subject_pods,
            tuple(map(rule_content, policy.ingress)), tuple(map(rule_content, policy.egress)))


@dataclass(frozen=True)
class AdminPolicyChange:
    """An admin policy added, removed or edited (priority, subject, or its ordered rules)."""

    kind_name: str
    name: str
    old: AdminPolicy | None
    new: AdminPolicy | None

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        return "removed" if self.new is None else "edited"

    @property
    def subject(self) -> str:
        return f"{self.kind_name} {self.name}"

    def rule_edits(self, direction: str) -> list[tuple[int, AdminRule | None, AdminRule | None]]:
        """(position, old rule, new rule) where the ordered rule lists differ."""
        old = self.old.rules(direction) if self.old is not None else ()
        new = self.new.rules(direction) if self.new is not None else ()
        out = []
        for i in range(max(len(old), len(new))):
            before = old[i] if i < len(old) else None
            after = new[i] if i < len(new) else None
            if before is None or after is None or rule_content(before) != rule_content(after):
                out.append((i, before, after))
        return out

    def edit_words(self, direction: str, position: int, before: AdminRule | None,
                   after: AdminRule | None) -> str:
        side = direction.lower()
        if before is None:
            assert after is not None
            return f"{side} rule #{position + 1} added ({after.name}: {describe_admin_rule(after)})"
        if after is None:
            return (f"{side} rule #{position + 1} removed ({before.name}: "
                    f"{describe_admin_rule(before)})")
        return (f"{side} rule #{position + 1} {before.name}: {describe_admin_rule(before)} -> "
                f"{after.name}: {describe_admin_rule(after)}")

    def header_edits(self) -> list[str]:
        old, new = self.old, self.new
        if old is None or new is None:
            return []
        parts = []
        if old.priority != new.priority:
            parts.append(f"priority {old.priority} -> {new.priority}")
        if (old.subject_namespaces, old.subject_pods) != (new.subject_namespaces,
                                                          new.subject_pods):
            parts.append("subject changed")
        if old.tier != new.tier:
            parts.append(f"tier {old.tier} -> {new.tier}")
        return parts

    def summary(self) -> str:
        if self.old is None or self.new is None:
            return self.kind
        parts = self.header_edits()
        for direction in DIRECTIONS:
            parts += [self.edit_words(direction, *edit) for edit in self.rule_edits(direction)]
        return "edited: " + "; ".join(parts)


def admin_changes(old: list[AdminPolicy], new: list[AdminPolicy]) -> tuple[AdminPolicyChange, ...]:
    before = {(p.kind, p.name): p for p in old}
    after = {(p.kind, p.name): p for p in new}
    out = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a is None or b is None or policy_content(a) != policy_content(b):
            out.append(AdminPolicyChange(key[0], key[1], a, b))
    return tuple(out)




def _cilium_content(policy: CiliumPolicy) -> tuple[object, ...]:
    return tuple((rs.endpoint_selector, rs.node_selector, rs.rules,
                  tuple(sorted(rs.default_deny.items()))) for rs in policy.rule_sets)


def _direction_content(policy: CiliumPolicy | None, direction: str) -> tuple[object, ...]:
    if policy is None:
        return ()
    return tuple((rs.endpoint_selector, rs.default_deny.get(direction),
                  tuple(r for r in rs.rules if r.direction == direction))
                 for rs in policy.rule_sets)


@dataclass(frozen=True)
class CiliumPolicyChange:
    """A CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy added, removed or edited."""

    kind_name: str
    name: str
    old: CiliumPolicy | None
    new: CiliumPolicy | None

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        return "removed" if self.new is None else "edited"

    @property
    def subject(self) -> str:
        return f"{self.kind_name} {self.name}"

    def changed_directions(self) -> list[str]:
        """The directions whose rules (or default deny) differ between the versions."""
        return [d for d in DIRECTIONS
                if _direction_content(self.old, d) != _direction_content(self.new, d)]

    def summary(self) -> str:
        if self.old is None or self.new is None:
            return self.kind
        return "edited: " + ", ".join(f"{d.lower()} rules" for d in self.changed_directions())


def cilium_changes(old: list[CiliumPolicy], new: list[CiliumPolicy]
                   ) -> tuple[CiliumPolicyChange, ...]:
    before = {(p.kind, p.key): p for p in old}
    after = {(p.kind, p.key): p for p in new}
    out = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a is None or b is None or _cilium_content(a) != _cilium_content(b):
            out.append(CiliumPolicyChange(key[0], key[1], a, b))
    return tuple(out)


__all__ = ["AdminPolicyChange", "CiliumPolicyChange", "admin_changes", "cilium_changes",
           "describe_admin_rule"]
