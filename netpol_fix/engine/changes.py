"""What changed between two inventories: policies, namespace labels, workloads.

The connectivity diff says *which* pairs changed; this module says *what in the input*
changed, so that each changed pair can name the edit responsible (a reviewer wants "the
label `team` was removed from namespace shop", not just "shop/api lost TCP 8080").
Objects are matched by identity (kind, namespace, name); content is compared on what the
connectivity depends on only, so a reformatted or re-annotated object is not a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from netpol_fix.engine.admin_changes import (
    AdminPolicyChange,
    CiliumPolicyChange,
    admin_changes,
    cilium_changes,
)
from netpol_fix.inventory.build import Inventory
from netpol_fix.model.objects import Workload
from netpol_fix.model.policy import NetworkPolicy, Rule

DIRECTIONS = ("Ingress", "Egress")


def format_labels(labels: Mapping[str, str]) -> str:
    """`k=v,k2=v2`, sorted; `{}` for none (so an emptied label set stays visible)."""
    if not labels:
        return "{}"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def label_delta(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    """The labels that differ, as `+k=v`, `-k=v` and `k: a -> b` parts."""
    parts = []
    for key in sorted(set(old) | set(new)):
        if key not in new:
            parts.append(f"-{key}={old[key]}")
        elif key not in old:
            parts.append(f"+{key}={new[key]}")
        elif old[key] != new[key]:
            parts.append(f"{key}: {old[key]} -> {new[key]}")
    return ", ".join(parts)


def _describe_peers(rule: Rule) -> str:
    return "; ".join(str(p) for p in rule.peers) if rule.peers else "all peers"


def _describe_ports(rule: Rule) -> str:
    return ", ".join(str(p) for p in rule.ports) if rule.ports else "all ports"


def describe_rule(rule: Rule) -> str:
    return f"{_describe_peers(rule)} on {_describe_ports(rule)}"


def _peers_content(rule: Rule) -> tuple[object, ...]:
    """A rule's peers without their positions (Peer.index)."""
    return tuple((p.pod_selector, p.namespace_selector, p.ip_block) for p in rule.peers)


def _rule_content(rule: Rule) -> tuple[object, ...]:
    return (_peers_content(rule), rule.ports)


@dataclass(frozen=True)
class PolicyChange:
    """A NetworkPolicy added, removed, or edited in what it selects or admits."""

    namespace: str
    name: str
    old: NetworkPolicy | None
    new: NetworkPolicy | None

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        return "removed" if self.new is None else "edited"

    @property
    def subject(self) -> str:
        return f"NetworkPolicy {self.namespace}/{self.name}"

    def selector_changed(self) -> bool:
        return (self.old is not None and self.new is not None
                and self.old.pod_selector != self.new.pod_selector)

    def types_changed(self, direction: str) -> bool:
        """Whether the policy started or stopped isolating `direction`."""
        return (self.old is not None and self.new is not None
                and self.old.isolates(direction) != self.new.isolates(direction))

    def rule_changes(self, direction: str) -> list[tuple[int | None, int | None]]:
        """The rules of `direction` that differ, as (old index, new index): None on one
        side for a rule added or removed. Rules are matched by content first, so inserting
        a rule does not make every later rule look edited; the unmatched ones are paired
        in order as edits, the rest are additions or removals."""
        old = self.old.rules(direction) if self.old is not None else ()
        new = self.new.rules(direction) if self.new is not None else ()
        unmatched_new = list(range(len(new)))
        unmatched_old = []
        for i, rule in enumerate(old):
            content = _rule_content(rule)
            match = next((j for j in unmatched_new if _rule_content(new[j]) == content), None)
            if match is None:
                unmatched_old.append(i)
            else:
                unmatched_new.remove(match)
        pairs: list[tuple[int | None, int | None]] = list(zip(unmatched_old, unmatched_new))
        pairs += [(i, None) for i in unmatched_old[len(unmatched_new):]]
        pairs += [(None, j) for j in unmatched_new[len(unmatched_old):]]
        return pairs

    def rule_edit(self, direction: str, old_index: int | None, new_index: int | None) -> str:
        """One rule's change in words: `ingress rule #2 added (...)`, or old and new."""
        side = direction.lower()
        if old_index is None:
            assert self.new is not None and new_index is not None
            rule = self.new.rules(direction)[new_index]
            return f"{side} rule #{new_index + 1} added ({describe_rule(rule)})"
        assert self.old is not None
        before = self.old.rules(direction)[old_index]
        if new_index is None:
            return f"{side} rule #{old_index + 1} removed ({describe_rule(before)})"
        assert self.new is not None
        after = self.new.rules(direction)[new_index]
        label = f"{side} rule #{old_index + 1}" if old_index == new_index else (
            f"{side} rule #{old_index + 1} (now #{new_index + 1})")
        parts = []
        if _peers_content(before) != _peers_content(after):
            parts.append(f"peers {_describe_peers(before)} -> {_describe_peers(after)}")
        if before.ports != after.ports:
            parts.append(f"ports {_describe_ports(before)} -> {_describe_ports(after)}")
        return f"{label} edited: {'; '.join(parts)}"

    def summary(self) -> str:
        """Every aspect of the edit, for the list of input changes."""
        if self.old is None or self.new is None:
            return self.kind
        parts = []
        if self.selector_changed():
            parts.append(f"podSelector {self.old.pod_selector} -> {self.new.pod_selector}")
        if self.old.policy_types != self.new.policy_types:
            parts.append(f"policyTypes {','.join(self.old.policy_types)} -> "
                         f"{','.join(self.new.policy_types)}")
        for direction in DIRECTIONS:
            parts.extend(self.rule_edit(direction, o, n) for o, n in self.rule_changes(direction))
        return "edited: " + "; ".join(parts)


@dataclass(frozen=True)
class NamespaceChange:
    """A namespace whose labels differ (namespaceSelectors may now match it or not)."""

    name: str
    old_labels: Mapping[str, str]
    new_labels: Mapping[str, str]

    @property
    def subject(self) -> str:
        return f"Namespace {self.name}"

    def summary(self) -> str:
        return f"labels changed: {label_delta(self.old_labels, self.new_labels)}"


@dataclass(frozen=True)
class WorkloadChange:
    """A workload added, removed, or changed in labels, ports or hostNetwork."""

    key: str
    old: Workload | None
    new: Workload | None

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        return "removed" if self.new is None else "edited"

    @property
    def subject(self) -> str:
        return f"workload {self.key}"

    def summary(self) -> str:
        if self.old is None or self.new is None:
            return self.kind
        parts = []
        if self.old.labels != self.new.labels:
            parts.append(f"pod template labels {label_delta(self.old.labels, self.new.labels)}")
        if self.old.ports != self.new.ports:
            parts.append(f"container ports {_ports(self.old)} -> {_ports(self.new)}")
        if self.old.host_network != self.new.host_network:
            parts.append(f"hostNetwork {self.old.host_network} -> {self.new.host_network}")
        return "edited: " + "; ".join(parts)


def _ports(workload: Workload) -> str:
    if not workload.ports:
        return "none"
    return ",".join(f"{p.name + '=' if p.name else ''}{p.protocol}/{p.port}"
                    for p in workload.ports)


def _policy_content(policy: NetworkPolicy) -> tuple[object, ...]:
    """What connectivity depends on (source, location and apiVersion do not matter; nor
    does the order of rules, which are ORed)."""
    return (policy.pod_selector, policy.policy_types,
            sorted(map(repr, map(_rule_content, policy.ingress))),
            sorted(map(repr, map(_rule_content, policy.egress))))


def _workload_content(workload: Workload) -> tuple[object, ...]:
    return (dict(workload.labels), workload.ports, workload.host_network)


@dataclass(frozen=True)
class InputChanges:
    policies: tuple[PolicyChange, ...]
    namespaces: tuple[NamespaceChange, ...]
    workloads: tuple[WorkloadChange, ...]
    admin: tuple[AdminPolicyChange | CiliumPolicyChange, ...] = ()
    """AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy and Cilium
    policy changes."""

    def __bool__(self) -> bool:
        return bool(self.policies or self.namespaces or self.workloads or self.admin)

    def summaries(self) -> list[tuple[str, str]]:
        """(subject, what changed) for every change, policies first."""
        out = [(c.subject, c.summary()) for c in self.admin]
        out += [(c.subject, c.summary()) for c in self.policies]
        out += [(c.subject, c.summary()) for c in self.namespaces]
        out += [(c.subject, c.summary()) for c in self.workloads]
        return out


def workloads_by_key(inventory: Inventory) -> dict[str, Workload]:
    """Workloads by `ns/name[Kind]`; for the rare duplicate key the first one stands."""
    found: dict[str, Workload] = {}
    for workload in inventory.workloads:
        found.setdefault(workload.key, workload)
    return found


def input_changes(old: Inventory, new: Inventory) -> InputChanges:
    """Compare two inventories object by object."""
    old_policies = {(p.namespace, p.name): p for p in old.policies}
    new_policies = {(p.namespace, p.name): p for p in new.policies}
    policies = []
    for key in sorted(set(old_policies) | set(new_policies)):
        before, after = old_policies.get(key), new_policies.get(key)
        if before is None or after is None or _policy_content(before) != _policy_content(after):
            policies.append(PolicyChange(key[0], key[1], before, after))

    # a namespace known on one side only comes with its workloads, which are reported
    used_old = set(old.namespaces) | {w.namespace for w in old.workloads}
    used_new = set(new.namespaces) | {w.namespace for w in new.workloads}
    namespaces = []
    for name in sorted(used_old & used_new):
        before_labels = dict(old.namespace(name).labels)
        after_labels = dict(new.namespace(name).labels)
        if before_labels != after_labels:
            namespaces.append(NamespaceChange(name, before_labels, after_labels))

    old_workloads, new_workloads = workloads_by_key(old), workloads_by_key(new)
    workloads = []
    for wkey in sorted(set(old_workloads) | set(new_workloads)):
        before_w, after_w = old_workloads.get(wkey), new_workloads.get(wkey)
        if (before_w is None or after_w is None
                or _workload_content(before_w) != _workload_content(after_w)):
            workloads.append(WorkloadChange(wkey, before_w, after_w))
    return InputChanges(tuple(policies), tuple(namespaces), tuple(workloads),
                        admin_changes(old.admin_policies, new.admin_policies)
                        + cilium_changes(old.cilium, new.cilium))
