"""One connection, decided with a trace: the diagnosis flow an engineer on call follows.

1. Is the destination isolated for ingress, and by which policies?
2. Does any ingress rule admit the source on this port? For every rule that does not, why.
3. Is the source isolated for egress, and by which policies?
4. Does any egress rule admit the destination on this port? Again, why not for each rule.

A connection needs both sides. hostNetwork pods are not governed by policy; the trace says
so instead of pretending a policy decided.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netpol_fix.engine.cni import block_admits_ips
from netpol_fix.engine.network import Network
from netpol_fix.inventory.build import NAME_LABEL
from netpol_fix.model.connset import ConnSet
from netpol_fix.model.objects import Workload
from netpol_fix.model.policy import IPBlock, NetworkPolicy, Peer, PortSpec, Rule

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Query:
    """What is asked: `port` None means "any port", `protocol` defaults to TCP."""

    port: int | str | None = None
    protocol: str = "TCP"

    def describe(self) -> str:
        if self.protocol not in ("TCP", "UDP", "SCTP"):
            return self.protocol
        if self.port is None:
            return f"{self.protocol} (any port)"
        return f"{self.protocol} {self.port}"


@dataclass
class RuleCheck:
    """One rule of one policy, and whether it admits the connection; `reason` says why not."""

    policy: str
    rule: str
    admits: bool
    reason: str
    conns: ConnSet = field(default_factory=ConnSet.none)
    cause: str | None = None
    """The rule id of a known cause of silent denial this check shows, if any."""

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "rule": self.rule, "admits": self.admits,
                "reason": self.reason, "cause": self.cause}


@dataclass
class SideVerdict:
    """The ingress side of the destination, or the egress side of the source."""

    direction: str
    endpoint: str
    governed: bool = True
    """False for hostNetwork pods and external addresses: no policy applies."""
    isolated: bool = False
    policies: list[str] = field(default_factory=list)
    checks: list[RuleCheck] = field(default_factory=list)
    allowed: bool = True
    conns: ConnSet = field(default_factory=ConnSet.all)
    note: str = ""
    tiers: Any = None
    """The admin/NetworkPolicy/baseline chain (engine/tier_trace.TierChain), when admin
    policies exist."""

    @property
    def deciding(self) -> list[RuleCheck]:
        return [c for c in self.checks if c.admits]

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "governed": self.governed,
            "isolated": self.isolated,
            "policies": self.policies,
            "allowed": self.allowed,
            "allowedConnections": self.conns.describe() if self.conns else "No Connections",
            "rules": [c.to_json() for c in self.checks],
            "note": self.note,
            **({"tiers": self.tiers.to_json()} if self.tiers is not None else {}),
        }


@dataclass
class DnsCheck:
    """Whether the source can resolve names: a connection by name needs its lookup first.
    (Filled in by the caller that knows the cluster's DNS, see cli `explain`.)"""

    target: str
    lacking: tuple[str, ...]
    """The protocols (UDP, TCP) on which the source's egress denies DNS."""

    @property
    def allowed(self) -> bool:
        return not self.lacking

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "allowed": self.allowed, "denied": list(self.lacking)}


@dataclass
class Verdict:
    source: str
    destination: str
    query: Query
    ingress: SideVerdict
    egress: SideVerdict
    notes: list[str] = field(default_factory=list)
    dns: DnsCheck | None = None
    preamble: list[str] = field(default_factory=list)
    """What decides before any policy (a CNI that enforces nothing): the trace starts so."""
    locations: dict[str, str] = field(default_factory=dict)
    """`file:line` of each policy the trace names, by policy key."""
    service: list[str] = field(default_factory=list)
    """How a Service destination maps to this backend (port -> targetPort), when asked."""
    refused: str | None = None
    """Why the connection is refused before any policy (a targetPort nobody exposes)."""
    cni_causes: list[str] = field(default_factory=list)
    """Known causes that come from the CNI rather than from one rule (Cilium's ICMP)."""
    uncertain: list[str] = field(default_factory=list)
    """Policy kinds the cluster serves but that could not be read (`AdminNetworkPolicy
    (403 Forbidden)`): the verdict leaves their tiers out and may be wrong."""

    @property
    def allowed(self) -> bool:
        return self.refused is None and self.ingress.allowed and self.egress.allowed

    @property
    def conns(self) -> ConnSet:
        return self.ingress.conns & self.egress.conns

    @property
    def causes(self) -> list[str]:
        """The rule ids of the known causes (which side denies is in `ingress`/`egress`)."""
        causes = list(self.cni_causes)
        if self.dns is not None and not self.dns.allowed:
            causes.append("missing-dns-egress")
        specific: list[str] = []
        for side in (self.egress, self.ingress):
            if side.allowed:
                continue
            for check in side.checks:
                if check.cause and check.cause not in causes + specific:
                    specific.append(check.cause)
        # one side allows, the other denies: one-sided, unless a specific cause explains
        # the denial (one cause, one finding, as scan reports it)
        if self.ingress.allowed != self.egress.allowed and (
                self.ingress.isolated and self.egress.isolated) and not specific:
            causes.append("one-sided-allow")
        return causes + specific


class Explainer:
    """Builds Verdicts against one Network."""

    def __init__(self, network: Network) -> None:
        self.network = network

    def _finish(self, verdict: Verdict) -> Verdict:
        """The CNI's preamble and where each policy of the trace is written."""
        cni = self.network.cni
        verdict.preamble = cni.trace_notes()
        if verdict.query.protocol == "ICMP" and cni.icmp_by_extension and not verdict.allowed:
            verdict.cni_causes.append("cilium-icmp-denied")
            verdict.notes.append(
                "under Cilium a NetworkPolicy rule with ports never admits ICMP and "
                "NetworkPolicy cannot name ICMP: a CiliumNetworkPolicy `icmps` rule allows it "
                "(`--fix` writes one per denying side)")
        for side in (verdict.ingress, verdict.egress):
            for key in side.policies:
                namespace, _, name = key.partition("/")
                policy = self.network.policy_named(namespace, name)
                loc = policy.source.location if policy is not None and policy.source else None
                if loc is not None:
                    verdict.locations[key] = f"{loc.file}:{loc.line}"
        return verdict

    # ----- endpoints -------------------------------------------------------------------
    def explain_pods(self, src: int, dst: int, query: Query) -> Verdict:
        net = self.network
        source, target = net.endpoints[src], net.endpoints[dst]
        ingress = self._ingress_side(src, dst, query)
        egress = self._egress_side_to_pod(src, dst, query)
        self._tiered(ingress, dst, src, None, query, target)
        self._tiered(egress, src, dst, None, query, target)
        verdict = Verdict(source.key, target.key, query, ingress, egress)
        if source.host_network and not net.host_network_as_pods:
            verdict.notes.append(
                f"{source.key} uses hostNetwork: its traffic leaves with the node's address, so "
                "pod and namespace selectors in the destination's ingress rules do not match "
                "it (an ipBlock holding the node's address does, except under Cilium); from "
                "the destination's own node it is allowed anyway: traffic from a pod's node is "
                "always allowed (Kubernetes; Cilium's --allow-localhost=auto)")
        return self._finish(verdict)

    def explain_to_address(self, src: int, target: IPNetwork, query: Query) -> Verdict:
        """Egress from a pod to an IP or CIDR outside the cluster's pods."""
        net = self.network
        source = net.endpoints[src]
        ingress = SideVerdict("Ingress", str(target), governed=False,
                              note="the destination is an address, not a pod: no "
                                   "NetworkPolicy governs its ingress")
        egress = self._egress_side_to_address(src, target, query)
        self._tiered(egress, src, None, target, query, None)
        return self._finish(Verdict(source.key, str(target), query, ingress, egress))

    def explain_from_address(self, source: IPNetwork, dst: int, query: Query) -> Verdict:
        """Ingress from an address outside the cluster's pods (a client, a load balancer)."""
        target = self.network.endpoints[dst]
        egress = SideVerdict("Egress", str(source), governed=False,
                             note="the source is an address, not a pod: no NetworkPolicy "
                                  "governs its egress")
        ingress = SideVerdict("Ingress", target.key)
        if self._ingress_governed(dst, ingress):
            self._check_rules(ingress, self.network.policies_for(dst, "Ingress"), target, query,
                              lambda policy, rule: self._address_reason(rule, source))
        self._tiered(ingress, dst, None, source, query, target)
        return self._finish(Verdict(str(source), target.key, query, ingress, egress))

    def _tiered(self, side: SideVerdict, index: int, other: int | None,
                address: IPNetwork | None, query: Query, target: Workload | None) -> None:
        """With admin or baseline policies, the side is decided through the tiers
        (engine/tier_trace.py): its chain, connections and verdict."""
        net = self.network
        if net.tiers is None or not side.governed:
            return
        from netpol_fix.engine.tier_trace import apply_tiers

        port = _resolve_query_port(query, target) if query.port is not None else None
        ports = target.ports if target is not None else ()
        apply_tiers(net, side, index, other, address, query, port, ports)
        side.allowed = _admits(side.conns, query, target)

    def _ingress_governed(self, dst: int, side: SideVerdict) -> bool:
        """Fill in isolation facts; False when no policy governs dst's ingress."""
        net = self.network
        target = net.endpoints[dst]
        if target.host_network and not net.host_network_as_pods:
            side.governed = False
            side.note = (f"{target.key} uses hostNetwork: NetworkPolicy does not govern it "
                         "(use a node firewall)")
            return False
        policies = net.policies_for(dst, "Ingress")
        if not net.cni.enforces:
            side.note = f"the CNI {net.cni.name} enforces no NetworkPolicy: all ingress allowed"
            return False
        if not policies:
            side.note = f"no NetworkPolicy selects {target.key} for Ingress: all ingress allowed"
            return False
        side.isolated = True
        side.policies = [p.key for p in policies]
        side.conns = ConnSet.none()
        return True

    # ----- ingress ---------------------------------------------------------------------
    def _ingress_side(self, src: int, dst: int, query: Query) -> SideVerdict:
        net = self.network
        target = net.endpoints[dst]
        side = SideVerdict("Ingress", target.key)
        if not self._ingress_governed(dst, side):
            return side
        source = net.endpoints[src]
        self._check_rules(side, net.policies_for(dst, "Ingress"), target, query,
                          lambda policy, rule: self._peer_mismatch(policy, rule, src, source))
        return side

    # ----- egress ----------------------------------------------------------------------
    def _egress_policies(self, src: int, side: SideVerdict) -> list[NetworkPolicy] | None:
        net = self.network
        source = net.endpoints[src]
        if source.host_network and not net.host_network_as_pods:
            side.governed = False
            side.note = (f"{source.key} uses hostNetwork: NetworkPolicy does not govern it "
                         "(use a node firewall)")
            return None
        policies = net.policies_for(src, "Egress")
        if not net.cni.enforces:
            side.note = f"the CNI {net.cni.name} enforces no NetworkPolicy: all egress allowed"
            return None
        if not policies:
            side.note = f"no NetworkPolicy selects {source.key} for Egress: all egress allowed"
            return None
        side.isolated = True
        side.policies = [p.key for p in policies]
        side.conns = ConnSet.none()
        return policies

    def _egress_side_to_pod(self, src: int, dst: int, query: Query) -> SideVerdict:
        net = self.network
        source, target = net.endpoints[src], net.endpoints[dst]
        side = SideVerdict("Egress", source.key)
        policies = self._egress_policies(src, side)
        if policies is None:
            return side
        self._check_rules(side, policies, target, query,
                          lambda policy, rule: self._peer_mismatch(policy, rule, dst, target))
        return side

    def _egress_side_to_address(self, src: int, target: IPNetwork, query: Query) -> SideVerdict:
        side = SideVerdict("Egress", self.network.endpoints[src].key)
        policies = self._egress_policies(src, side)
        if policies is None:
            return side
        self._check_rules(side, policies, None, query,
                          lambda policy, rule: self._address_reason(rule, target))
        return side

    def _check_rules(self, side: SideVerdict, policies: list[NetworkPolicy],
                     target: Workload | None, query: Query,
                     peer_mismatch: Callable[[NetworkPolicy, Rule], str | None]) -> None:
        """One check per rule of the policies isolating this side, in order: whether its
        peers match (`peer_mismatch` says why not, per kind of other end) and its ports
        admit the query. The side admits the union of what the matching rules admit."""
        direction = side.direction
        for policy in policies:
            rules = policy.rules(direction)
            if not rules:
                side.checks.append(_isolating_only(policy, direction))
            for rule in rules:
                peer_reason = peer_mismatch(policy, rule)
                check = self._port_check(policy, rule, target, query, peer_reason)
                side.checks.append(check)
                if peer_reason is None:
                    side.conns = side.conns | check.conns
        side.allowed = _admits(side.conns, query, target)

    # ----- reasons ---------------------------------------------------------------------
    def _port_check(self, policy: NetworkPolicy, rule: Rule, target: Workload | None,
                    query: Query, peer_reason: str | None) -> RuleCheck:
        """A rule's check; towards an address (no target) named ports match nothing."""
        net = self.network
        conns = net.rule_conns(rule, target.ports) if target is not None \
            else net.rule_numeric_conns(rule)
        if peer_reason is not None:
            return RuleCheck(policy.key, rule.label, False, peer_reason, conns,
                             cause=self.cause_of(peer_reason))
        reason = _port_mismatch(rule, conns, query, target)
        if reason is not None:
            dropped = self._dropped_entry(rule, target, query)
            if dropped is not None:
                return RuleCheck(policy.key, rule.label, False, dropped, conns,
                                 cause="aws-vpc-cni-port-limit")
        return RuleCheck(policy.key, rule.label, reason is None, reason or "admits", conns)

    def _dropped_entry(self, rule: Rule, target: Workload | None, query: Query) -> str | None:
        """Why a port the rule lists is denied anyway: the CNI does not enforce the entry
        (AWS VPC CNI writes only the first port entries of a rule per peer)."""
        cni = self.network.cni
        _kept, dropped = cni.kept_ports(rule.ports)
        if not dropped:
            return None
        conns = ConnSet.none()
        for spec in dropped:
            conns = conns | (spec.resolve(target.ports) if target is not None else spec.numeric())
        if not _admits(conns, query, target):
            return None
        return (f"{query.describe()} is listed, but only as entry past the first "
                f"{cni.port_entry_limit} of the rule's {len(rule.ports)} port entries: the "
                f"{cni.name} network policy agent writes {cni.port_entry_limit} per peer and "
                "silently denies the rest")

    def _peer_mismatch(self, policy: NetworkPolicy, rule: Rule, index: int,
                       endpoint: Workload) -> str | None:
        """Why no peer of `rule` matches endpoint `index`, or None when one does."""
        if rule.all_peers:
            return None
        bit = 1 << index
        reasons = []
        for peer in rule.peers:
            if self.network.peer_bits(policy, peer) & bit:
                return None
            reasons.append(f"peer #{peer.index + 1} ({peer}): "
                           f"{self._why_peer_misses(policy, peer, endpoint)}")
        return "; ".join(reasons)

    @staticmethod
    def cause_of(reason: str) -> str | None:
        """Map a mismatch reason to the rule id of the known cause it shows."""
        if "matches no namespace" in reason:
            return "namespace-selector-unmatched"
        if "policy's own namespace" in reason:
            return "pod-selector-own-namespace"
        if "uses hostNetwork" in reason:
            return "peer-selects-host-network"
        return None

    def _why_peer_misses(self, policy: NetworkPolicy, peer: Peer, endpoint: Workload) -> str:
        net = self.network
        if peer.ip_block is not None:
            return self._why_block_misses(peer.ip_block, endpoint)
        if endpoint.host_network and not net.host_network_as_pods:
            return (f"{endpoint.key} uses hostNetwork; its traffic carries the node's address, "
                    "which pod and namespace selectors never match")
        if peer.namespace_selector is None:
            if endpoint.namespace != policy.namespace:
                labels_miss = peer.pod_selector.explain_mismatch(endpoint.labels) \
                    if peer.pod_selector is not None else None
                if labels_miss:
                    # not the namespace alone: the peer does not name this pod at all, so
                    # pod-selector-own-namespace (a peer meant for it) is not the cause
                    return (f"podSelector {peer.pod_selector} does not match {endpoint.key} "
                            f"({labels_miss}; its labels are {_format_labels(endpoint.labels)}),"
                            f" and without namespaceSelector it selects only pods in "
                            f"{policy.namespace!r}")
                return (f"a podSelector without namespaceSelector only selects pods in the "
                        f"policy's own namespace {policy.namespace!r}, and {endpoint.key} is in "
                        f"{endpoint.namespace!r}")
        else:
            matched = net.namespaces_matching(peer.namespace_selector)
            if endpoint.namespace not in matched:
                ns = net.inventory.namespace(endpoint.namespace)
                labels = _format_labels(ns.labels)
                # "matches no namespace" is the known cause only when the selector is not
                # pinned by name: a name like kube-system may just be absent from the sources
                pinned = any(key == NAME_LABEL for key, _ in peer.namespace_selector.match_labels)
                if not matched and not pinned:
                    return (f"namespaceSelector {peer.namespace_selector} matches no namespace; "
                            f"namespace {endpoint.namespace} has labels {labels}")
                why = peer.namespace_selector.explain_mismatch(ns.labels)
                return (f"namespaceSelector {peer.namespace_selector} does not match namespace "
                        f"{endpoint.namespace} ({why}; its labels are {labels})")
        if peer.pod_selector is not None:
            why = peer.pod_selector.explain_mismatch(endpoint.labels)
            if why:
                return (f"podSelector {peer.pod_selector} does not match {endpoint.key} ({why}; "
                        f"its labels are {_format_labels(endpoint.labels)})")
        return "does not match"


    def _address_reason(self, rule: Rule, address: IPNetwork) -> str | None:
        """Why no peer of the rule admits an address; under a CNI whose ipBlocks never match
        the cluster's own pods or nodes (Cilium), an address inside --pod-cidr or
        --node-cidr (or a node's address) is such an endpoint, not an outside address."""
        reason = _address_mismatch(rule, address)
        if reason is not None or rule.all_peers:
            return reason
        cni = self.network.cni
        inside = cni.cluster_range_of(address)
        if inside is not None and not cni.ip_aware and cni.name == "cilium":
            return (f"{address} is inside the cluster's {inside}: under Cilium an ipBlock "
                    "never matches pods or nodes of the cluster (use a selector, or a "
                    "CiliumNetworkPolicy entity such as remote-node or host)")
        return None

    def _why_block_misses(self, block: IPBlock, endpoint: Workload) -> str:
        """Why an ipBlock does not admit this pod or node, as the CNI matches addresses."""
        cni = self.network.cni
        on_host = endpoint.host_network and not self.network.host_network_as_pods
        what = f"the node address of {endpoint.key}" if on_host else f"the pod {endpoint.key}"
        if not cni.ip_aware:
            if cni.name == "cilium":
                return (f"under Cilium an ipBlock never matches {what}: CIDR rules do not "
                        "apply to pods or nodes of the cluster (use a pod or namespace "
                        "selector, or a CiliumNetworkPolicy entity)")
            return (f"an ipBlock matches addresses outside the cluster's pods, not {what} "
                    "(netpol-analyzer's model, --ipblocks-never-match-pods)")
        if endpoint.ips:
            inside = [ip for ip in endpoint.ips if block_admits_ips(block, [ip])]
            if inside:
                return (f"ipBlock {block} holds only some addresses of {endpoint.key} "
                        f"({', '.join(inside)} of {', '.join(endpoint.ips)})")
            return f"ipBlock {block} does not hold {what} ({', '.join(endpoint.ips)})"
        cidr, option = (cni.node_cidr, "--node-cidr") if on_host else (cni.pod_cidr,
                                                                         "--pod-cidr")
        if cidr is not None:
            return f"ipBlock {block} does not hold all of {option} {cidr}, where {what} lives"
        return (f"ipBlock {block}: the address of {what} is not known (no status.podIP in "
                f"the sources; give {option} to reason about the whole range)")


def _isolating_only(policy: NetworkPolicy, direction: str) -> RuleCheck:
    """A policy that selects the pod for a direction without any rule for it."""
    field = direction.lower()
    if direction == "Ingress" and not policy.policy_types_explicit:
        return RuleCheck(policy.key, f"(no {field} rules)", False,
                         f"policyTypes is omitted and {policy.key} has egress rules, so the "
                         "API defaults policyTypes to [Ingress, Egress]: this egress policy "
                         "also denies all ingress", cause="policy-types-missing")
    return RuleCheck(policy.key, f"(no {field} rules)", False,
                     f"{policy.key} has no {field} rules: it only isolates")


def _format_labels(labels: Any) -> str:
    if not labels:
        return "{}"
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"


def _admits(conns: ConnSet, query: Query, target: Workload | None) -> bool:
    if query.port is None:
        return conns.allows(query.protocol, None)
    port = _resolve_query_port(query, target)
    return port is not None and conns.allows(query.protocol, port)


def _resolve_query_port(query: Query, target: Workload | None) -> int | None:
    if isinstance(query.port, int):
        return query.port
    if target is not None:
        for cp in target.ports:
            if cp.name == query.port and cp.protocol == query.protocol:
                return cp.port
    return None


def _port_mismatch(rule: Rule, conns: ConnSet, query: Query, target: Workload | None) -> str | None:
    if _admits(conns, query, target):
        return None
    listed = ", ".join(str(p) for p in rule.ports) or "all"
    unresolved = [p for p in rule.ports if p.is_named and (target is None or not p.resolve(target.ports))]
    extra = ""
    if unresolved:
        names = ", ".join(str(p.port) for p in unresolved)
        extra = (f"; named port {names} matches no container port of the destination"
                 if target is not None else
                 f"; named port {names} cannot match an address outside the cluster's pods")
    return f"{query.describe()} not in [{listed}]{extra}"


def _address_mismatch(rule: Rule, target: IPNetwork) -> str | None:
    if rule.all_peers:
        return None
    reasons = []
    for peer in rule.peers:
        block = peer.ip_block
        if block is None:
            reasons.append(f"peer #{peer.index + 1} ({peer}) selects pods, not the address "
                           f"{target}")
            continue
        if target.version != block.cidr.version or not target.subnet_of(block.cidr):  # type: ignore[arg-type]
            reasons.append(f"peer #{peer.index + 1}: {target} is not inside {block.cidr}")
            continue
        excepted = next((ex for ex in block.excepts if ex.version == target.version
                         and target.overlaps(ex)), None)  # type: ignore[arg-type]
        if excepted is not None:
            reasons.append(f"peer #{peer.index + 1}: {target} falls in except {excepted}")
            continue
        return None
    return "; ".join(reasons)


def parse_port(text: str | None) -> int | str | None:
    if text is None:
        return None
    return int(text) if text.isdigit() else text


__all__ = [
    "Explainer",
    "PortSpec",
    "Query",
    "RuleCheck",
    "SideVerdict",
    "Verdict",
    "parse_port",
]
