"""CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy as plain data for the engine.

The parsed form keeps what decides traffic (cilium pkg/policy/api, the policy language
reference):

- a rule set selects endpoints by `endpointSelector` (a CNP: in its own namespace; a CCNP:
  cluster-wide) or, in a CCNP, nodes by `nodeSelector` (host firewall: no pod);
- peers are endpoints by labels, with the namespace as the label
  `k8s:io.kubernetes.pod.namespace` or namespace labels as `io.cilium.k8s.namespace.labels.*`
  (a selector without either means the policy's own namespace in a CNP, any namespace in a
  CCNP), entities (`world`, `cluster`, `all`, ...), CIDRs with excepts (never pods), and
  what only the agent can resolve (`toFQDNs`, `toServices`, `toGroups`, `toNodes`);
- ports with ranges and protocols (ANY is TCP, UDP and SCTP), `icmps`, and L7 rules, which
  the proxy enforces at run time;
- deny rules beat every allow; an endpoint is default-deny in a direction only when a rule
  set selecting it has rules for that direction and `enableDefaultDeny` does not turn it off.
"""

from __future__ import annotations

from dataclasses import dataclass

from netpol_fix.model.connset import ConnSet
from netpol_fix.model.objects import ContainerPort, ObjectRef, SourceObject
from netpol_fix.model.policy import IPBlock
from netpol_fix.model.selectors import LabelSelector

CNP_KIND = "CiliumNetworkPolicy"
POD_NAMESPACE = "k8s:io.kubernetes.pod.namespace"
"""The label Cilium gives every endpoint with its namespace's name: a peer selector without
it selects the policy's own namespace only (Cilium's policy language reference,
"Kubernetes": namespace-scoped policies)."""
CCNP_KIND = "CiliumClusterwideNetworkPolicy"
ENTITIES = ("all", "world", "world-ipv4", "world-ipv6", "cluster", "host", "init", "ingress",
            "unmanaged", "remote-node", "health", "none", "kube-apiserver")
POD_ENTITIES = ("all", "cluster")
"""Entities that hold the cluster's pods (every Cilium-managed endpoint)."""
WORLD_ENTITIES = ("all", "world", "world-ipv4", "world-ipv6")
"""Entities that hold addresses outside the cluster."""


@dataclass(frozen=True)
class CiliumEndpoints:
    """An endpoint selector peer: pod labels in the namespaces `namespace_selector` matches
    (over namespace labels, `kubernetes.io/metadata.name` for the name); None = every
    namespace (a CCNP selector without a namespace label)."""

    pod_selector: LabelSelector
    namespace_selector: LabelSelector | None
    never: bool = False
    """A label of another source (`reserved:host`, ...): no pod carries it."""

    def __str__(self) -> str:
        where = "any namespace" if self.namespace_selector is None else \
            f"namespaces {self.namespace_selector}"
        return f"endpoints {self.pod_selector} in {where}"


@dataclass(frozen=True)
class CiliumPort:
    """A port or range of one protocol, or a named port (any protocol of that name)."""

    protocols: tuple[str, ...]
    first: int = 1
    last: int = 65535
    name: str | None = None

    def conns_for(self, container_ports: tuple[ContainerPort, ...]) -> ConnSet:
        result = ConnSet.none()
        if self.name is not None:
            for cp in container_ports:
                if cp.name == self.name and cp.protocol in self.protocols:
                    result = result | ConnSet.ports(cp.protocol, cp.port)
            return result
        for protocol in self.protocols:
            result = result | ConnSet.ports(protocol, self.first, self.last)
        return result

    def __str__(self) -> str:
        proto = "ANY" if len(self.protocols) > 1 else self.protocols[0]
        if self.name is not None:
            return f"{proto} {self.name}"
        if self.first == 1 and self.last == 65535:
            return f"{proto} (all ports)"
        return f"{proto} {self.first}" + (f"-{self.last}" if self.last != self.first else "")


@dataclass(frozen=True)
class CiliumRule:
    direction: str
    index: int
    section: str
    """ingress, ingressDeny, egress or egressDeny."""
    deny: bool
    endpoints: tuple[CiliumEndpoints, ...]
    entities: tuple[str, ...]
    cidrs: tuple[IPBlock, ...]
    all_peers: bool
    """No L3 peer field but toPorts/icmps: every peer (Cilium's wildcard)."""
    ports: tuple[CiliumPort, ...]
    """Empty: every port (and protocol) unless `icmps` narrow it."""
    icmp: bool
    """`icmps` given: ICMP is admitted (the fields' types are not modelled)."""
    runtime: tuple[str, ...]
    """What the agent decides at run time: toFQDNs, toServices, toGroups, toNodes, and L7
    rules (http, kafka, dns, l7proto): named here, admitted as their L4 part only."""
    l7: tuple[str, ...] = ()

    def conns_for(self, container_ports: tuple[ContainerPort, ...]) -> ConnSet:
        if not self.ports and not self.icmp:
            return ConnSet.all()
        result = ConnSet(other=True) if self.icmp else ConnSet.none()
        for port in self.ports:
            result = result | port.conns_for(container_ports)
        return result

    def numeric_conns(self) -> ConnSet:
        return self.conns_for(())

    @property
    def has_named_ports(self) -> bool:
        return any(p.name is not None for p in self.ports)

    @property
    def label(self) -> str:
        return f"{self.section} rule #{self.index + 1}"


@dataclass(frozen=True)
class CiliumRuleSet:
    """One `spec` (or item of `specs`)."""

    index: int
    endpoint_selector: CiliumEndpoints | None
    """None for a `nodeSelector` rule set (it selects nodes, never pods)."""
    node_selector: LabelSelector | None
    rules: tuple[CiliumRule, ...]
    default_deny: dict[str, bool]
    """Direction -> whether this rule set puts the endpoints it selects in default deny."""


@dataclass(frozen=True)
class CiliumPolicy:
    kind: str
    namespace: str | None
    """None for a CiliumClusterwideNetworkPolicy."""
    name: str
    rule_sets: tuple[CiliumRuleSet, ...]
    api_version: str = "cilium.io/v2"
    source: SourceObject | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.api_version, self.kind, self.namespace, self.name)

    @property
    def short_kind(self) -> str:
        return "CNP" if self.kind == CNP_KIND else "CCNP"

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"
