"""pod-selector-own-namespace: a podSelector peer meant for pods of another namespace.

`from: [{podSelector: {matchLabels: {app: prometheus}}}]` selects pods of the policy's own
namespace only. Authors often read it as "those pods, wherever they run", and the scraper in
`monitoring` is silently refused. Evidence of that reading: the selector matches no pod of
the policy's namespace but matches pods elsewhere, or an expectation says a pod of another
namespace must get through.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from netpol_fix.engine.network import Network, iter_bits
from netpol_fix.engine.verdict import parse_port
from netpol_fix.fixes.effect import flows_opened, patched_policies
from netpol_fix.inventory.build import NAME_LABEL
from netpol_fix.model.connset import ConnSet
from netpol_fix.model.findings import ERROR, UNSAFE, Finding, Fix, Patch
from netpol_fix.model.objects import endpoint_ref
from netpol_fix.model.policy import NetworkPolicy, Peer
from netpol_fix.model.policy import Rule as PolicyRule
from netpol_fix.rules.base import Rule, RuleDoc
from netpol_fix.rules.context import Context, suppressed


@dataclass
class Suspect:
    """A peer, the namespaces it was probably meant to include, and why."""

    policy: NetworkPolicy
    rule: PolicyRule
    peer: Peer
    namespaces: dict[str, str] = field(default_factory=dict)
    """Namespace -> the evidence for it."""


def _allows(conns: ConnSet, net: Network, dst: int, port: int | str | None,
            protocol: str) -> bool:
    """Whether `conns` holds the connection; a named port is resolved on the destination."""
    if isinstance(port, str):
        numbers = [cp.port for cp in net.endpoints[dst].ports
                   if cp.name == port and cp.protocol == protocol]
        return any(conns.allows(protocol, n) for n in numbers)
    return conns.allows(protocol, port)


class PodSelectorOwnNamespace(Rule):
    id = "pod-selector-own-namespace"
    severity = ERROR
    applicability = UNSAFE
    summary = ("A podSelector peer without namespaceSelector, meant for pods of another "
               "namespace (it only selects the policy's own namespace)")
    doc = RuleDoc(
        why=(
            "A `from`/`to` peer with only `podSelector` selects pods in the policy's own "
            "namespace. It is easy to read it as \"pods with these labels anywhere\": the "
            "monitoring scraper, the ingress controller or a client in another namespace "
            "then times out although its labels match. This rule reports such a peer when "
            "it matches no pod of its own namespace but matches pods of other namespaces "
            "whose connection it would admit is denied on this side only (no other rule "
            "admits it, and their own side allows it), or when an `expect:` entry of .netpol-fix.yaml names a connection from another "
            "namespace that the peer would admit if it looked there."),
        example=(
            "kind: NetworkPolicy\nmetadata: {name: metrics, namespace: shop}\nspec:\n"
            "  podSelector: {}\n  ingress:\n"
            "  - from: [{podSelector: {matchLabels: {app: prometheus}}}]  # runs in monitoring\n"
            "    ports: [{port: 9090}]"),
        fix=(
            "Add a new peer beside it, one per namespace meant: the same podSelector with "
            "`namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: NS}}`. The "
            "existing peer stays, so nothing it admits today is lost; never "
            "`namespaceSelector: {}`, which would admit those labels in every namespace."),
        unsafe=(
            "Unsafe: which namespace was meant is inferred from where the labels occur (or "
            "from an expectation); the new peer admits every pod with those labels there, "
            "listed in the fix's `opens`."),
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        suspects: dict[tuple[str, str, int, int], Suspect] = {}
        self._unmatched_peers(ctx, suspects)
        self._expectations(ctx, suspects)
        findings = []
        for key in sorted(suspects):
            suspect = suspects[key]
            if suspect.namespaces and not suppressed(self.id, suspect.policy.source):
                findings.append(self._finding(ctx, suspect))
        return findings

    @staticmethod
    def _own_namespace_peers(policy: NetworkPolicy) -> Iterable[tuple[PolicyRule, Peer]]:
        for direction in ("Ingress", "Egress"):
            for rule in policy.rules(direction):
                for peer in rule.peers:
                    if peer.pod_selector is not None and peer.namespace_selector is None:
                        yield rule, peer

    def _suspect(self, suspects: dict[tuple[str, str, int, int], Suspect], policy: NetworkPolicy,
                 rule: PolicyRule, peer: Peer) -> Suspect:
        key = (policy.key, rule.direction, rule.index, peer.index)
        return suspects.setdefault(key, Suspect(policy, rule, peer))

    def _unmatched_peers(self, ctx: Context,
                         suspects: dict[tuple[str, str, int, int], Suspect]) -> None:
        net = ctx.network
        for policy in ctx.inventory.policies:
            for rule, peer in self._own_namespace_peers(policy):
                assert peer.pod_selector is not None
                if peer.pod_selector.is_empty or net.peer_bits(policy, peer):
                    continue
                elsewhere = (net.pod_index.select(peer.pod_selector) & net.pod_network
                             & ~net.ns_members.get(policy.namespace, 0)
                             & ~net.rule_peer_bits(policy, rule))  # another peer has them
                for i in iter_bits(elsewhere):
                    if not self._denied_only_here(net, policy, rule, i):
                        continue
                    endpoint = net.endpoints[i]
                    suspect = self._suspect(suspects, policy, rule, peer)
                    suspect.namespaces.setdefault(
                        endpoint.namespace,
                        f"no pod of {policy.namespace} has labels {peer.pod_selector}, "
                        f"but {endpoint.key} in {endpoint.namespace} does")

    @staticmethod
    def _denied_only_here(net: Network, policy: NetworkPolicy, rule: PolicyRule,
                          other: int) -> bool:
        """Whether, for some pod the policy selects, what `rule` would admit with `other`
        is denied on this side and allowed on the other side: the connection fails only
        because the peer looks in the wrong namespace. Not when another rule admits it
        already, nor when `other`'s own side denies it too (then this peer is not why)."""
        for own in iter_bits(net.selected(policy)):
            src, dst = (other, own) if rule.direction == "Ingress" else (own, other)
            wanted = rule.conns_for(net.endpoints[dst].ports)
            here, there = (net.ingress_conns(src, dst), net.egress_conns(src, dst))
            if rule.direction == "Egress":
                here, there = there, here
            if (wanted - here) & there:
                return True
        return False

    def _expectations(self, ctx: Context,
                      suspects: dict[tuple[str, str, int, int], Suspect]) -> None:
        net = ctx.network
        for expectation in ctx.settings.expect:
            port = parse_port(str(expectation.port)) if expectation.port is not None else None
            src_ns, src_name = expectation.source.split("/")
            dst_ns, dst_name = expectation.destination.split("/")
            for src in net.find(src_ns, src_name):
                for dst in net.find(dst_ns, dst_name):
                    if src_ns == dst_ns:
                        continue
                    for direction, own, other in (("Ingress", dst, src), ("Egress", src, dst)):
                        conns = (net.ingress_conns(src, dst) if direction == "Ingress"
                                 else net.egress_conns(src, dst))
                        if _allows(conns, net, dst, port, expectation.protocol):
                            continue
                        self._expected_peer(ctx, suspects, direction, own, other, dst,
                                            port, expectation.protocol,
                                            f"{expectation.source} -> "
                                            f"{expectation.destination} is expected")

    def _expected_peer(self, ctx: Context, suspects: dict[tuple[str, str, int, int], Suspect],
                       direction: str, own: int, other: int, dst: int, port: int | str | None,
                       protocol: str, why: str) -> None:
        net = ctx.network
        target = net.endpoints[other]
        for policy in net.policies_for(own, direction):
            if policy.namespace == target.namespace:
                continue
            for rule, peer in self._own_namespace_peers(policy):
                assert peer.pod_selector is not None
                if rule.direction != direction or not peer.pod_selector.matches(target.labels) \
                        or net.rule_peer_bits(policy, rule) >> other & 1:
                    continue
                if not _allows(rule.conns_for(net.endpoints[dst].ports), net, dst, port,
                               protocol):
                    continue
                self._suspect(suspects, policy, rule, peer).namespaces.setdefault(
                    target.namespace, why)

    def _fix(self, ctx: Context, suspect: Suspect) -> Fix | None:
        policy, rule, peer = suspect.policy, suspect.rule, suspect.peer
        if policy.source is None:
            return None
        field_name = rule.direction.lower()
        peer_field = "from" if rule.direction == "Ingress" else "to"
        raw_rule = policy.source.obj["spec"][field_name][rule.index]
        raw_peers = raw_rule[peer_field]
        pod_selector: Any = raw_peers[peer.index].get("podSelector") or {}
        path = f"/spec/{field_name}/{rule.index}/{peer_field}"
        operations: list[dict[str, Any]] = [{"op": "test", "path": path, "value": raw_peers}]
        for namespace in sorted(suspect.namespaces):
            operations.append({"op": "add", "path": f"{path}/-", "value": {
                "namespaceSelector": {"matchLabels": {NAME_LABEL: namespace}},
                "podSelector": pod_selector}})
        patch = Patch(policy.ref, operations, policy.source)
        opens = flows_opened(ctx.network, patched_policies(ctx.inventory, [patch]))
        return Fix(UNSAFE, f"add a peer for namespace(s) {', '.join(sorted(suspect.namespaces))} "
                           f"with podSelector {peer.pod_selector} to NetworkPolicy {policy.key} "
                           f"{rule.label}", [patch], [], opens)

    def _finding(self, ctx: Context, suspect: Suspect) -> Finding:
        net = ctx.network
        policy, rule, peer = suspect.policy, suspect.rule, suspect.peer
        assert peer.pod_selector is not None
        matched = [i for i in range(net.size)
                   if net.endpoints[i].namespace in suspect.namespaces
                   and not net.endpoints[i].host_network
                   and peer.pod_selector.matches(net.endpoints[i].labels)]
        evidence = "; ".join(f"{ns}: {why}" for ns, why in sorted(suspect.namespaces.items()))
        message = (f"NetworkPolicy {policy.key} {rule.label} peer #{peer.index + 1} "
                   f"(podSelector {peer.pod_selector}, no namespaceSelector) only selects pods "
                   f"in {policy.namespace}, but the pods it names live elsewhere ({evidence})")
        return Finding(self.id, self.severity, policy.ref, policy.source, message,
                       [endpoint_ref(net.endpoints[i]) for i in matched], self._fix(ctx, suspect))
