"""Each group of observed flows against the sources: the engine's verdict for that
connection (as `explain` gives it), and what it means for what the dataplane did.

* explained: dropped, and the sources deny it on the side where it was dropped (or the
  flow does not say the side): the policies isolating that side, the rule ids of the
  causes found, and the narrowest fix as `explain --fix` writes it;
* explicit-deny: Cilium's POLICY_DENY (181) or a Calico deny by a Calico policy: the policy
  the dataplane named, checked against the sources (which model no deny rules);
* not-explained: dropped, but the sources allow it (or deny it only on the other side):
  the likely reasons, in order: drift, a policy kind the sources do not hold, the CNI's own
  behaviour, hostNetwork, Service port vs targetPort;
* not-policy: the dataplane dropped it for a reason other than policy (INVALID_SOURCE_IP...);
* unresolved: an endpoint could not be resolved to a workload or address;
* enforcement-gap: forwarded new connections that the sources deny.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from netpol_fix.config import Settings
from netpol_fix.drops.formats import PolicyName
from netpol_fix.drops.group import DROPPED, Group
from netpol_fix.drops.resolve import EXTERNAL, NODE, OBSERVED, UNRESOLVED, WORKLOAD, Resolved
from netpol_fix.engine.network import Network
from netpol_fix.engine.verdict import DnsCheck, Explainer, Query, SideVerdict, Verdict
from netpol_fix.fixes.flow import narrowest_fix
from netpol_fix.inventory.build import Inventory
from netpol_fix.inventory.selectors import parse_selector
from netpol_fix.model.findings import Fix
from netpol_fix.model.objects import SourceObject, Workload
from netpol_fix.rules.context import Context
from netpol_fix.rules.missing_dns_egress import MissingDnsEgress, dns_rules, fix_protocols

EXPLAINED, EXPLICIT_DENY, NOT_EXPLAINED, NOT_POLICY, UNRESOLVED_CLASS, GAP = (
    "explained", "explicit-deny", "not-explained", "not-policy", "unresolved",
    "enforcement-gap")
CLASSES = (EXPLAINED, EXPLICIT_DENY, NOT_EXPLAINED, NOT_POLICY, UNRESOLVED_CLASS, GAP)
DEFAULT_DENY_REASONS = ("POLICY_DENIED", "CALICO_DENY")
EXPLICIT_DENY_REASONS = ("POLICY_DENY",)
CALICO_DEFAULT_KINDS = ("NetworkPolicy", "EndOfTier", "StagedKubernetesNetworkPolicy")
DENY_KEYS = ("ingressDeny", "egressDeny")
CILIUM_FORMATS = ("hubble-jsonpb", "hubble-legacy-json", "cilium-monitor-text",
                  "cilium-monitor-json")


@dataclass(frozen=True)
class PolicyInfo:
    kind: str
    namespace: str | None
    name: str
    file: str | None = None
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name,
                "file": self.file, "line": self.line}

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        at = f" ({self.file}:{self.line})" if self.file else ""
        return f"{self.kind} {where}{at}"


@dataclass
class Explanation:
    group: Group
    classification: str
    verdict: str | None = None
    """The sources' verdict: "denied", "allowed", or None when none could be asked."""
    causes: list[str] = field(default_factory=list)
    policies: list[PolicyInfo] = field(default_factory=list)
    fix: Fix | None = None
    explanation: str = ""
    reasons: list[str] = field(default_factory=list)
    """Details: why each rule did not admit it, or the likely reasons, most likely first."""
    engine: Verdict | None = None


class DropContext(Context):
    """The rules' context with the observed stand-ins as extra endpoints (after the
    representatives), so the DNS check and the fixes see them as the verdict does."""

    def __init__(self, inventory: Inventory, settings: Settings,
                 standins: Sequence[Workload]) -> None:
        super().__init__(inventory, settings)
        self.standins = tuple(standins)

    def _representatives(self) -> list[Workload]:
        return super()._representatives() + list(self.standins)


def _location(source: SourceObject | None) -> tuple[str | None, int | None]:
    loc = source.location if source is not None else None
    return (loc.file, loc.line) if loc is not None else (None, None)


def _query(group: Group) -> Query | None:
    protocol = group.protocol
    if protocol in ("TCP", "UDP", "SCTP"):
        return Query(group.port, protocol) if group.port else None
    if protocol in ("ICMPv4", "ICMPv6"):
        return Query(None, "ICMP")
    return None


def _network_of(address: str | None) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if address is None:
        return None
    try:
        return ipaddress.ip_network(address)
    except ValueError:
        return None


class DropExplainer:
    """Explains groups against one inventory and its settings. Stand-ins for observed
    pods join the network as groups name them (the network is rebuilt only then)."""

    def __init__(self, inventory: Inventory, settings: Settings) -> None:
        self.inventory = inventory
        self.settings = settings
        self.cilium = settings.cni == "cilium"
        self._standins: dict[str, Workload] = {}
        self._context: DropContext | None = None
        self._indices: dict[int, int] = {}
        self.dns_rule = MissingDnsEgress()

    # ----- the network ------------------------------------------------------------------
    def context(self, groups: Sequence[Group] = ()) -> DropContext:
        """The context holding every stand-in the groups need (rebuilt when one is new)."""
        new = False
        for group in groups:
            for side in (group.source, group.destination):
                if side.kind == OBSERVED and side.workload is not None \
                        and side.ref not in self._standins:
                    self._standins[side.ref] = side.workload
                    new = True
        if self._context is None or new:
            self._context = DropContext(self.inventory, self.settings,
                                        list(self._standins.values()))
            self._indices = {id(w): i for i, w in enumerate(self._context.network.endpoints)}
        return self._context

    def _index(self, side: Resolved) -> int | None:
        if side.kind == OBSERVED:
            workload = self._standins.get(side.ref)
            return self._indices.get(id(workload)) if workload is not None else None
        if side.kind == WORKLOAD and side.workload is not None:
            return self._indices.get(id(side.workload))
        return None

    # ----- one group ---------------------------------------------------------------------
    def explain(self, group: Group) -> Explanation:
        context = self.context([group])
        src, dst = group.source, group.destination
        sample = group.sample
        cilium = self.cilium or sample.fmt in CILIUM_FORMATS
        if group.observed == DROPPED:
            early = self._not_analysed(group)
            if early is not None:
                return early
        unresolved = [s for s in (src, dst) if s.kind == UNRESOLVED]
        if unresolved:
            return Explanation(group, UNRESOLVED_CLASS, explanation="; ".join(
                f"{s.ref}: {s.how}" for s in unresolved))
        query = _query(group)
        if query is None:
            return Explanation(group, UNRESOLVED_CLASS,
                               explanation="the flow carries no protocol and port to ask "
                                           "the sources about")
        verdict = self._verdict(context, src, dst, query)
        if verdict is None:
            return Explanation(group, NOT_EXPLAINED if group.observed == DROPPED else GAP,
                               explanation="neither side is a pod: no NetworkPolicy "
                                           "applies", reasons=[f"{src.ref}: {src.how}",
                                                              f"{dst.ref}: {dst.how}"])
        s_idx, d_idx = self._index(src), self._index(dst)
        dns_target = self._dns_target(context, d_idx, dst, query)
        if dns_target and s_idx is not None and not verdict.egress.allowed:
            target = context.dns.ref if context.dns.node_local is None \
                else f"NodeLocal DNSCache {context.dns.node_local}"
            verdict.dns = DnsCheck(target, self.dns_rule.lacking(
                context, s_idx, d_idx if context.dns.node_local is None else None))
        if group.observed != DROPPED:
            return self._forwarded(group, verdict, context)
        if sample.reason in EXPLICIT_DENY_REASONS or self._calico_explicit(group):
            return self._explicit_deny(group, verdict, context)
        if verdict.allowed:
            return self._not_explained(group, verdict, context, cilium)
        denying = [side for side in (verdict.egress, verdict.ingress) if not side.allowed]
        observed_side = {"EGRESS": verdict.egress, "INGRESS": verdict.ingress}.get(
            group.direction or "")
        if observed_side is not None and observed_side.allowed:
            other = denying[0]
            result = self._not_explained(group, verdict, context, cilium)
            result.reasons.insert(0, (
                f"the sources deny it only at {other.direction.lower()} "
                f"({', '.join(other.policies)}), but the dataplane dropped it at "
                f"{group.direction.lower() if group.direction else '?'}, which the sources "
                f"allow: the live {observed_side.direction.lower()} policies differ from the "
                f"sources (drift: `netpol-fix diff SOURCES --cluster`)"))
            result.explanation = result.reasons[0]
            result.verdict = "denied"
            return result
        causes = list(verdict.causes)
        if query.protocol == "ICMP" and cilium and not verdict.ingress.allowed \
                and "cilium-icmp-denied" not in causes:
            causes.append("cilium-icmp-denied")
        fix = self._fix(context, verdict, group, query)
        policies = self._policies(context.network, denying)
        reasons = _rule_reasons(denying)
        node = next((side for side in (src, dst) if side.kind == NODE), None)
        if node is not None and cilium and fix is not None:
            # an ipBlock for the node's address would not work: Cilium gives node-side
            # traffic an identity (host, remote-node, kube-apiserver) that CIDR rules skip
            fix = None
            reasons.append(f"no fix: {node.ref} is node-side traffic, and Cilium's ipBlock/"
                           "CIDR rules never match the host, remote-node or kube-apiserver "
                           "identities (unless policy-cidr-match-mode includes nodes); allow "
                           "it with a CiliumNetworkPolicy fromEntities/toEntities")
        for side in (src, dst):
            drift = self._namespace_drift(side)
            if drift:
                # the sources' verdict may rest on labels the cluster's namespace has
                reasons.append(f"drift: {drift}; the cluster may drop it for another reason "
                               "than the sources (`netpol-fix diff SOURCES --cluster`)")
        return Explanation(group, EXPLAINED, "denied", causes, policies, fix,
                           _denial_sentence(denying, query), reasons, verdict)

    def _not_analysed(self, group: Group) -> Explanation | None:
        sample = group.sample
        reason = sample.reason
        if reason is not None and reason not in DEFAULT_DENY_REASONS + EXPLICIT_DENY_REASONS:
            note = ("mutual authentication is required (Cilium authentication.mode), which "
                    "NetworkPolicy does not express") if reason == "AUTH_REQUIRED" else (
                "the dataplane dropped it for a reason other than policy")
            return Explanation(group, NOT_POLICY, explanation=f"{reason}: {note}; the "
                               "sources can neither explain nor fix it")
        if sample.l7:
            return Explanation(group, NOT_EXPLAINED, explanation=(
                "an L7 request (HTTP, DNS, Kafka) was denied by an L7 rule of a Cilium "
                "policy; NetworkPolicy works at L3/L4 only"),
                reasons=["a CiliumNetworkPolicy with `rules: {http|dns|kafka}` denied it"])
        if sample.is_reply is True:
            return Explanation(group, NOT_POLICY, explanation=(
                "a reply packet was dropped: policies decide on the connection's first "
                "packet; a dropped reply means the connection tracking entry was lost "
                "(agent restart, CT table full, asymmetric routing)"))
        return None

    def _verdict(self, context: DropContext, src: Resolved, dst: Resolved,
                 query: Query) -> Verdict | None:
        explainer = Explainer(context.network)
        s_idx, d_idx = self._index(src), self._index(dst)
        if s_idx is not None and d_idx is not None:
            return explainer.explain_pods(s_idx, d_idx, query)
        if s_idx is not None and dst.kind in (EXTERNAL, NODE):
            target = _network_of(dst.address)
            return explainer.explain_to_address(s_idx, target, query) if target else None
        if d_idx is not None and src.kind in (EXTERNAL, NODE):
            source = _network_of(src.address)
            return explainer.explain_from_address(source, d_idx, query) if source else None
        return None

    def _dns_target(self, context: DropContext, d_idx: int | None, dst: Resolved,
                    query: Query) -> bool:
        dns = context.dns
        if query.protocol not in ("UDP", "TCP"):
            return False
        if dns.node_local is not None and dst.address == dns.node_local:
            return query.port == 53
        return d_idx is not None and query.port == dns.port and d_idx in context.dns_endpoints()

    def _fix(self, context: DropContext, verdict: Verdict, group: Group,
             query: Query) -> Fix | None:
        src, dst = group.source, group.destination
        s_idx, d_idx = self._index(src), self._index(dst)
        source: Any = s_idx if s_idx is not None else _network_of(src.address)
        target: Any = d_idx if d_idx is not None else _network_of(dst.address)
        if source is None or target is None:
            return None
        dns = None
        if verdict.dns is not None and not verdict.dns.allowed:
            # the DNS lookup itself: the rule's DNS egress (to the DNS pods by their
            # selector, UDP and TCP as missing-dns-egress writes it) admits it, so no
            # rule pinned to one DNS pod
            dns = dns_rules(context.dns, fix_protocols(context.dns, verdict.dns.lacking))
        return narrowest_fix(context.network, verdict, source, target, query, dns,
                             dns_covers_egress=dns is not None)

    @staticmethod
    def _policies(network: Network, sides: Sequence[SideVerdict]) -> list[PolicyInfo]:
        found: list[PolicyInfo] = []
        for side in sides:
            for key in side.policies:
                namespace, _, name = key.partition("/")
                policy = network.policy_named(namespace, name)
                file, line = _location(policy.source if policy else None)
                info = PolicyInfo("NetworkPolicy", namespace, name, file, line)
                if info not in found:
                    found.append(info)
        return found

    # ----- explicit deny ----------------------------------------------------------------
    @staticmethod
    def _calico_explicit(group: Group) -> bool:
        return any(p.kind not in CALICO_DEFAULT_KINDS for p in group.sample.denied_by) \
            and group.sample.fmt.startswith("calico")

    def _explicit_deny(self, group: Group, verdict: Verdict,
                       context: DropContext) -> Explanation:
        named = list(group.sample.denied_by)
        policies: list[PolicyInfo] = []
        reasons: list[str] = []
        for policy in named:
            held = self._held(policy)
            if held is None:
                policies.append(PolicyInfo(policy.kind, policy.namespace, policy.name))
                reasons.append(f"{policy} is not in the sources: it was applied from "
                               "elsewhere, or the sources drifted (`netpol-fix diff SOURCES "
                               "--cluster`)")
                continue
            file, line = _location(held)
            policies.append(PolicyInfo(policy.kind, policy.namespace, policy.name, file, line))
            if _has_deny_rules(held.obj):
                reasons.append(f"{policy} is in the sources ({file}:{line}) with deny rules "
                               f"({'/'.join(DENY_KEYS)}): the drop is intended by that policy; "
                               "netpol-fix does not edit deny rules")
            else:
                reasons.append(f"{policy} is in the sources ({file}:{line}) but has no deny "
                               "rules there: the live object differs (drift)")
        if not named:
            held_deny = [s for s in self.inventory.cilium_policies if _has_deny_rules(s.obj)]
            reasons.append("the flow names no denying policy (Hubble correlates explicit "
                           "denies from Cilium 1.16 on)" + (
                               "; the sources' policies with deny rules: " + ", ".join(
                                   _source_name(s) for s in held_deny) if held_deny else
                               "; the sources hold no policy with deny rules"))
        what = ", ".join(str(p) for p in named) or "a deny rule"
        return Explanation(group, EXPLICIT_DENY, "denied" if not verdict.allowed else "allowed",
                           [], policies, None,
                           f"explicitly denied by {what}", reasons, verdict)

    def _held(self, policy: PolicyName) -> SourceObject | None:
        for source in self.inventory.cilium_policies:
            meta = source.obj.get("metadata") or {}
            if source.obj.get("kind") == policy.kind and meta.get("name") == policy.name and (
                    policy.kind == "CiliumClusterwideNetworkPolicy"
                    or (meta.get("namespace") or "default") == (policy.namespace or "default")):
                return source
        return None

    # ----- allowed by the sources --------------------------------------------------------
    def _not_explained(self, group: Group, verdict: Verdict, context: DropContext,
                       cilium: bool) -> Explanation:
        reasons = self._likely_reasons(group, verdict, context, cilium)
        policies = []
        for source in self.inventory.cilium_policies:
            if any(w is not None and cilium_selects(source.obj, w)
                   for w in (group.source.workload, group.destination.workload)):
                meta = source.obj.get("metadata") or {}
                file, line = _location(source)
                policies.append(PolicyInfo(str(source.obj.get("kind")), meta.get("namespace")
                                           or "default", str(meta.get("name")), file, line))
        what = ("no NetworkPolicy of the sources denies it, but Cilium policies of the "
                "sources select its endpoints, and the engine does not model them"
                if policies else "the sources allow this connection; the dataplane dropped it")
        return Explanation(group, NOT_EXPLAINED, "allowed", [], policies, None, what,
                           reasons, verdict)

    def _likely_reasons(self, group: Group, verdict: Verdict, context: DropContext,
                        cilium: bool) -> list[str]:
        src, dst = group.source, group.destination
        reasons: list[str] = []
        drift = "drift: the cluster's policies, namespaces or pod labels differ from the " \
                "sources (`netpol-fix diff SOURCES --cluster`)"
        evidence = []
        for side in (src, dst):
            if side.label_drift:
                evidence.append(f"{side.ref} runs without the sources' labels "
                                f"{', '.join(side.label_drift)}")
            if side.kind == OBSERVED:
                evidence.append(f"{side.ref} is not in the sources (its policies may not be "
                                "either)")
            namespace_drift = self._namespace_drift(side)
            if namespace_drift:
                evidence.append(namespace_drift)
        reasons.append(drift + (": " + "; ".join(evidence) if evidence else ""))
        selecting = [(s, w) for s in self.inventory.cilium_policies
                     for w in (src.workload, dst.workload)
                     if w is not None and cilium_selects(s.obj, w)]
        if selecting:
            reasons.insert(0, "a policy kind the engine does not model decides it: " + "; ".join(
                f"{_source_name(s)} selects {w.key}" for s, w in selecting))
            at = 1
            for source, workload in selecting:
                inbound = workload is dst.workload
                peer = src.workload if inbound else dst.workload
                for note in cilium_rule_notes(source.obj, "ingress" if inbound else "egress",
                                              peer, group.port, group.protocol):
                    reasons.insert(at, f"{_source_name(source)} {note}")
                    at += 1
        elif group.sample.fmt.startswith("calico"):
            reasons.append("a policy kind the sources do not hold: Calico NetworkPolicy, "
                           "GlobalNetworkPolicy or a tier's (Admin)NetworkPolicy")
        else:
            reasons.append("a policy kind the sources do not hold: CiliumNetworkPolicy, "
                           "CiliumClusterwideNetworkPolicy, AdminNetworkPolicy or "
                           "BaselineAdminNetworkPolicy")
        if group.protocol in ("ICMPv4", "ICMPv6"):
            reasons.append("the CNI's ICMP handling: under Cilium only rules without ports or "
                           "CiliumNetworkPolicy `icmps` admit ICMP")
        for side in (src, dst):
            if side.kind == NODE:
                line = (f"{side.ref} is node-side traffic: " + (
                    "Cilium's CIDR/ipBlock rules never match the host, remote-node or "
                    "kube-apiserver identities (unless policy-cidr-match-mode includes "
                    "nodes); allow them with toEntities/fromEntities" if cilium else
                    "ipBlock matching of node addresses depends on the CNI"))
                reasons.append(line)
        for side in (src, dst):
            if side.workload is not None and side.workload.host_network:
                reasons.append(f"{side.ref} uses hostNetwork: its traffic carries the node's "
                               "address, which selectors never match")
        reasons += self._service_ports(group)
        return reasons

    def _namespace_drift(self, side: Resolved) -> str | None:
        """The live namespace's labels (Cilium puts them in the flow) against the
        sources' Namespace, when they differ."""
        if not side.namespace_labels or side.workload is None:
            return None
        live = dict(side.namespace_labels)
        live.pop("kubernetes.io/metadata.name", None)
        held = {k: v for k, v in self.inventory.namespace(side.workload.namespace).labels.items()
                if k != "kubernetes.io/metadata.name"}
        if live == held:
            return None
        return (f"namespace {side.workload.namespace} has labels {_labels(live)} in the "
                f"cluster (from the flow), {_labels(held)} in the sources")

    def _service_ports(self, group: Group) -> list[str]:
        dst = group.destination.workload
        if dst is None or group.port is None:
            return []
        found = []
        for service in self.inventory.services:
            if service.namespace != dst.namespace or not service.selector or not all(
                    dst.labels.get(k) == v for k, v in service.selector.items()):
                continue
            for sp in service.ports:
                if sp.target_port not in (None, sp.port) and group.port in (
                        sp.port, sp.target_port):
                    found.append(f"Service {service.namespace}/{service.name} maps port "
                                 f"{sp.port} to targetPort {sp.target_port}: policies see the "
                                 "pod's port after translation, never the Service port")
        return found

    # ----- forwarded --------------------------------------------------------------------
    def _forwarded(self, group: Group, verdict: Verdict, context: DropContext) -> Explanation:
        if verdict.allowed:
            return Explanation(group, "consistent", "allowed", engine=verdict)
        if NODE in (group.source.kind, group.destination.kind):
            return Explanation(group, "consistent", "denied", engine=verdict,
                               explanation=(
                                   "node-side traffic, not judged: traffic from a pod's own "
                                   "node is always allowed (Kubernetes NetworkPolicy), and "
                                   "how node addresses match ipBlocks is up to the CNI"))
        denying = [side for side in (verdict.egress, verdict.ingress) if not side.allowed]
        reasons = [("the CNI does not enforce these policies: its agent is unhealthy on "
                    "that node, enforcement is off or in audit mode (Cilium "
                    "policy-audit-mode), or the CNI enforces no NetworkPolicy at all"),
                   ("drift: the live policies allow more than the sources (`netpol-fix "
                    "diff SOURCES --cluster`)")]
        causes = ["cni-no-enforcement"] if self.settings.cni == "flannel" else []
        return Explanation(group, GAP, "denied", causes,
                           self._policies(context.network, denying), None,
                           "the sources deny it, but the dataplane let it through "
                           f"({group.count} flow event(s) of new connections): enforcement "
                           "is inconsistent",
                           reasons, verdict)


def cilium_selects(obj: dict[str, Any], workload: Workload) -> bool:
    """Whether a Cilium policy's endpointSelector (in any of its specs) selects the
    workload: keys may carry Cilium's `k8s:`/`any:` source prefix, and
    `io.kubernetes.pod.namespace` is the pod's namespace. A CiliumNetworkPolicy applies in
    its own namespace only; an unreadable selector selects nothing."""
    meta = obj.get("metadata") or {}
    if obj.get("kind") == "CiliumNetworkPolicy" and \
            (meta.get("namespace") or "default") != workload.namespace:
        return False
    labels = {**workload.labels, "io.kubernetes.pod.namespace": workload.namespace}
    specs = [obj.get("spec")] + list(obj.get("specs") or [])
    for spec in specs:
        raw = spec.get("endpointSelector") if isinstance(spec, dict) else None
        if not isinstance(raw, dict):
            continue
        stripped = {**raw, "matchLabels": {
            _strip_source(k): v for k, v in (raw.get("matchLabels") or {}).items()}}
        expressions = raw.get("matchExpressions")
        if isinstance(expressions, list):
            stripped["matchExpressions"] = [
                {**e, "key": _strip_source(str(e.get("key")))} if isinstance(e, dict) else e
                for e in expressions]
        try:
            if parse_selector(stripped).matches(labels):
                return True
        except (ValueError, TypeError, AttributeError):
            continue
    return False


CILIUM_PEERS = {"ingress": ("fromEndpoints", ("fromEntities", "fromCIDR", "fromCIDRSet",
                                             "fromRequires", "fromGroups", "fromNodes")),
                "egress": ("toEndpoints", ("toEntities", "toCIDR", "toCIDRSet", "toFQDNs",
                                           "toServices", "toRequires", "toGroups",
                                           "toNodes"))}


def cilium_rule_notes(obj: dict[str, Any], direction: str, peer: Workload | None,
                      port: int | None, protocol: str | None) -> list[str]:
    """A reading (not a verdict: the engine does not model Cilium policies) of a Cilium
    policy's rules in one direction against the other side: whether each rule's
    fromEndpoints/toEndpoints matchLabels select it, and whether its toPorts hold the
    port. Peers of other kinds are named as not checked."""
    if peer is None:
        return []
    own_ns = (obj.get("metadata") or {}).get("namespace") or "default"
    clusterwide = obj.get("kind") == "CiliumClusterwideNetworkPolicy"
    labels = {**peer.labels, "io.kubernetes.pod.namespace": peer.namespace}
    key, others = CILIUM_PEERS[direction]
    notes: list[str] = []
    specs = [obj.get("spec")] + list(obj.get("specs") or [])
    rules = [r for spec in specs if isinstance(spec, dict)
             for r in spec.get(direction) or [] if isinstance(r, dict)]
    for number, rule in enumerate(rules, start=1):
        where = f"{direction} rule #{number}"
        other = [k for k in others if k in rule]
        if other:
            notes.append(f"{where} uses {', '.join(other)}: not checked")
        selectors = rule.get(key)
        if not isinstance(selectors, list):
            continue
        matched = None
        for raw in selectors:
            if not isinstance(raw, dict):
                continue
            plain = {_strip_source(k): v for k, v in (raw.get("matchLabels") or {}).items()}
            try:
                selector = parse_selector({**raw, "matchLabels": plain})
            except (ValueError, TypeError, AttributeError):
                continue
            same_ns = clusterwide or "io.kubernetes.pod.namespace" in plain or \
                peer.namespace == own_ns
            if same_ns and selector.matches(labels):
                matched = selector
                break
        shown = ", ".join(str(parse_selector({"matchLabels": {
            _strip_source(k): v for k, v in (raw.get("matchLabels") or {}).items()}}))
            for raw in selectors if isinstance(raw, dict)) or "{}"
        if matched is None:
            notes.append(f"{where}: {key} {shown} does not select {peer.key} (labels "
                         f"{_labels(dict(peer.labels))})")
            continue
        ports = _cilium_ports(rule)
        if ports and port is not None and (port, protocol) not in ports \
                and (port, "ANY") not in ports:
            notes.append(f"{where}: {key} selects {peer.key}, but its toPorts hold only "
                         + ", ".join(f"{p}/{proto}" for p, proto in sorted(ports)))
        else:
            notes.append(f"{where}: {key} selects {peer.key} on this port")
    return notes


def _cilium_ports(rule: dict[str, Any]) -> set[tuple[int, str]]:
    found: set[tuple[int, str]] = set()
    for entry in rule.get("toPorts") or []:
        for item in (entry.get("ports") or []) if isinstance(entry, dict) else []:
            if isinstance(item, dict) and str(item.get("port", "")).isdigit():
                found.add((int(item["port"]), str(item.get("protocol") or "ANY").upper()))
    return found


def _strip_source(key: str) -> str:
    for prefix in ("k8s:", "any:"):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def _has_deny_rules(obj: dict[str, Any]) -> bool:
    specs = [obj.get("spec")] + list(obj.get("specs") or [])
    return any(isinstance(s, dict) and any(s.get(k) for k in DENY_KEYS) for s in specs)


def _source_name(source: SourceObject) -> str:
    meta = source.obj.get("metadata") or {}
    namespace = meta.get("namespace") or (
        "default" if source.obj.get("kind") == "CiliumNetworkPolicy" else None)
    where = f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))
    file, line = _location(source)
    return f"{source.obj.get('kind')} {where}" + (f" ({file}:{line})" if file else "")


def _labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"


def _denial_sentence(denying: Sequence[SideVerdict], query: Query) -> str:
    parts = []
    for side in denying:
        if side.tiers is not None:  # decided through the admin/Cilium tiers
            parts.append(f"{side.direction.lower()} of {side.endpoint}: {side.tiers.text()}")
            continue
        parts.append(f"{side.direction.lower()} of {side.endpoint} is isolated by "
                     f"{', '.join(side.policies)} and no {side.direction.lower()} rule "
                     f"admits {query.describe()}")
    return "; ".join(parts)


def _rule_reasons(denying: Sequence[SideVerdict]) -> list[str]:
    reasons = []
    for side in denying:
        for check in side.checks:
            if not check.admits:
                reasons.append(f"{check.policy} {check.rule}: {check.reason}")
    return reasons
