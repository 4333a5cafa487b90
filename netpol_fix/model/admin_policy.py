"""Cluster-scoped admin policies as plain data: AdminNetworkPolicy and
BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1) and ClusterNetworkPolicy
(v1alpha2, its Admin and Baseline tiers), in one shape.

Why one shape: the three kinds differ in names (Allow vs Accept, `ports` vs `protocols`)
but not in what decides traffic. A policy has a tier (Admin above NetworkPolicy, Baseline
below), a priority inside it (lower first; a BANP has none), a subject (the pods whose
ingress or egress it governs) and ordered rules, each with an action and peers. The first
rule that matches a connection decides it; Pass hands it to the next tier. Unlike a
NetworkPolicy, an admin policy isolates nothing: what no rule matches goes on down.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from netpol_fix.model.connset import MAX_PORT, ConnSet
from netpol_fix.model.objects import ContainerPort, ObjectRef, SourceObject
from netpol_fix.model.selectors import LabelSelector

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ADMIN_TIER = "Admin"
BASELINE_TIER = "Baseline"
ALLOW, DENY, PASS = "Allow", "Deny", "Pass"
"""Actions as the engine reads them; v1alpha2's Accept is read as Allow."""

ANP_KIND = "AdminNetworkPolicy"
BANP_KIND = "BaselineAdminNetworkPolicy"
CNP_V1ALPHA2_KIND = "ClusterNetworkPolicy"
ADMIN_KINDS = (ANP_KIND, BANP_KIND, CNP_V1ALPHA2_KIND)
V1ALPHA1 = "policy.networking.k8s.io/v1alpha1"
V1ALPHA2 = "policy.networking.k8s.io/v1alpha2"


@dataclass(frozen=True)
class AdminPort:
    """One `ports` (or v1alpha2 `protocols`) entry: a port or range of one protocol, or a
    named port, resolved on the destination pod's containers (any protocol)."""

    protocol: str | None
    """TCP, UDP or SCTP; None for a named port."""
    first: int = 1
    last: int = MAX_PORT
    name: str | None = None

    def conns_for(self, container_ports: tuple[ContainerPort, ...]) -> ConnSet:
        if self.name is None:
            assert self.protocol is not None
            return ConnSet.ports(self.protocol, self.first, self.last)
        result = ConnSet.none()
        for cp in container_ports:
            if cp.name == self.name:
                result = result | ConnSet.ports(cp.protocol, cp.port)
        return result

    def __str__(self) -> str:
        if self.name is not None:
            return f"named port {self.name}"
        if self.first == self.last:
            return f"{self.protocol} {self.first}"
        if self.first == 1 and self.last == MAX_PORT:
            return f"{self.protocol} (all ports)"
        return f"{self.protocol} {self.first}-{self.last}"


@dataclass(frozen=True)
class AdminPeer:
    """One `from`/`to` entry; `kind` says which of its one-of fields is set.

    - `namespaces`: every pod of the namespaces `namespace_selector` matches;
    - `pods`: pods matching `pod_selector` in those namespaces;
    - `nodes`: the nodes `node_selector` matches (their addresses, which manifests rarely
      hold: such peers are reported as not decidable offline);
    - `networks`: CIDRs, matched against addresses outside the cluster's pods;
    - `domainNames`: DNS names, decided at run time by the implementation.
    """

    kind: str
    index: int
    namespace_selector: LabelSelector | None = None
    pod_selector: LabelSelector | None = None
    node_selector: LabelSelector | None = None
    networks: tuple[IPNetwork, ...] = ()
    domain_names: tuple[str, ...] = ()

    @property
    def selects_pods(self) -> bool:
        return self.kind in ("namespaces", "pods")

    def __str__(self) -> str:
        if self.kind == "namespaces":
            return f"namespaces {self.namespace_selector}"
        if self.kind == "pods":
            return f"pods {self.pod_selector} in namespaces {self.namespace_selector}"
        if self.kind == "nodes":
            return f"nodes {self.node_selector}"
        if self.kind == "networks":
            return "networks " + ", ".join(str(n) for n in self.networks)
        return "domainNames " + ", ".join(self.domain_names)


@dataclass(frozen=True)
class AdminRule:
    direction: str
    index: int
    name: str
    action: str
    """Allow, Deny or Pass (v1alpha2 Accept is Allow)."""
    peers: tuple[AdminPeer, ...]
    ports: tuple[AdminPort, ...]
    """Empty means every port and protocol."""

    def conns_for(self, container_ports: tuple[ContainerPort, ...]) -> ConnSet:
        """What the rule matches towards a destination with these container ports."""
        if not self.ports:
            return ConnSet.all()
        result = ConnSet.none()
        for port in self.ports:
            result = result | port.conns_for(container_ports)
        return result

    def numeric_conns(self) -> ConnSet:
        """Towards an address: named ports match nothing."""
        return self.conns_for(())

    @property
    def has_named_ports(self) -> bool:
        return any(p.name is not None for p in self.ports)

    @property
    def label(self) -> str:
        return f"{self.direction.lower()} rule {self.name or '#' + str(self.index + 1)}"


@dataclass(frozen=True)
class AdminPolicy:
    kind: str
    """AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy."""
    name: str
    tier: str
    """Admin (above NetworkPolicy) or Baseline (below it)."""
    priority: int | None
    """Lower is evaluated first; None for the BaselineAdminNetworkPolicy."""
    subject_namespaces: LabelSelector
    subject_pods: LabelSelector | None
    """None when the subject is `namespaces` (every pod of them)."""
    ingress: tuple[AdminRule, ...]
    egress: tuple[AdminRule, ...]
    api_version: str = V1ALPHA1
    source: SourceObject | None = None

    @property
    def key(self) -> str:
        return self.name

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.api_version, self.kind, None, self.name)

    @property
    def short_kind(self) -> str:
        """ANP, BANP, or `CNP Admin`/`CNP Baseline` for v1alpha2."""
        if self.kind == ANP_KIND:
            return "ANP"
        if self.kind == BANP_KIND:
            return "BANP"
        return f"ClusterNetworkPolicy {self.tier}"

    def rules(self, direction: str) -> tuple[AdminRule, ...]:
        return self.ingress if direction == "Ingress" else self.egress

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"
