"""What every rule sees: the inventory, settings, and a Network that also holds stand-ins.

Repositories often hold policies without the workloads they govern, and almost never the
cluster DNS pods. So, as netpol-analyzer's exposure analysis does, the rules reason about
representative pods: one per policy whose podSelector selects no pod of the sources
(labels that satisfy the selector), and the DNS pods from --dns-namespace/--dns-selector
(or the kube-dns Service's selector when the sources hold it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from netpol_fix.config import Settings
from netpol_fix.engine.cni import CniModel, cni_model
from netpol_fix.engine.network import Network, PodSelection, iter_bits
from netpol_fix.inventory.build import IGNORE_ANNOTATION, Inventory
from netpol_fix.model.objects import ContainerPort, SourceObject, Workload
from netpol_fix.model.policy import NetworkPolicy
from netpol_fix.model.selectors import LabelSelector

OPENSHIFT_DNS_NAMESPACE = "openshift-dns"
OPENSHIFT_DNS_LABELS = {"dns.operator.openshift.io/daemonset-dns": "default"}
NODELOCAL_DNS_IP = "169.254.20.10"
NODELOCAL_DNS_NAME = "node-local-dns"
NODELOCAL_DNS_PORT = 53


@dataclass(frozen=True)
class DnsTarget:
    """Where pods send DNS queries, as a NetworkPolicy must name it."""

    namespace: str
    labels: dict[str, str]
    port: int
    why: str
    """How it was determined, for messages."""
    node_local: str | None = None
    """NodeLocal DNSCache's address when the sources run it: pods then query that address on
    their node (a hostNetwork listener), which only an ipBlock rule admits."""

    @property
    def ref(self) -> str:
        return f"{self.namespace}/" + ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))


def representative_labels(selector: LabelSelector) -> dict[str, str]:
    """Labels of a pod the selector matches (None when no pod can match it)."""
    labels: dict[str, str] = dict(selector.match_labels)
    for req in selector.match_expressions:
        if req.operator == "In":
            current = labels.get(req.key)
            if current is None:
                labels[req.key] = min(req.values)
        elif req.operator == "Exists" and req.key not in labels:
            labels[req.key] = "any"
    return labels


class Context:
    def __init__(self, inventory: Inventory, settings: Settings,
                 cni: CniModel | None = None) -> None:
        """`cni`: what the cluster's plugin enforces, when the caller knows more than the
        settings say (node addresses of a cluster that was read)."""
        self.inventory = inventory
        self.settings = settings
        if cni is not None:
            self.__dict__["cni"] = cni
        self.running: frozenset[str] | None = None
        """The ids of the rules this analysis runs (None: every rule), so a generic rule
        can leave a flow to the specific rule that explains it (one cause, one finding)."""
        self.traced_messages = True
        """False when the caller shows no finding message (`fix`, which prints the fixes):
        a rule may then leave out the part of its message that costs an engine trace
        (one-sided-allow's reason, as `explain` traces the denying side: 0.14 s for the
        2,864 findings of the broken bench tree). Findings and fixes are otherwise the same."""

    @cached_property
    def dns(self) -> DnsTarget:
        return find_dns_target(self.inventory, self.settings)

    @cached_property
    def cni(self) -> CniModel:
        """What the cluster's CNI enforces (settings.cni is the detected one on a cluster)."""
        s = self.settings
        return cni_model(s.cni, s.ipblocks_never_match_pods, s.pod_cidr, s.node_cidr)

    @cached_property
    def network(self) -> Network:
        return Network(self.inventory, extra_endpoints=tuple(self._representatives()),
                       cni=self.cni)

    def _representatives(self) -> list[Workload]:
        extra: list[Workload] = []
        plain = PodSelection(list(self.inventory.workloads))
        dns = self.dns
        dns_selector = LabelSelector(tuple(sorted(dns.labels.items())))
        has_dns = plain.ns_members.get(dns.namespace, 0) & plain.pod_index.select(dns_selector)
        if not has_dns:
            extra.append(Workload(
                namespace=dns.namespace, name=",".join(f"{k}={v}" for k, v in
                                                       sorted(dns.labels.items())),
                kind="Pod", labels=dict(dns.labels),
                ports=(ContainerPort("dns", dns.port, "UDP"),
                       ContainerPort("dns-tcp", dns.port, "TCP")),
                representative=True))
        seen: set[tuple[str, LabelSelector]] = set()
        for policy in self.inventory.policies:
            if plain.selected(policy) or (policy.namespace, policy.pod_selector) in seen:
                continue
            seen.add((policy.namespace, policy.pod_selector))
            labels = representative_labels(policy.pod_selector)
            if not policy.pod_selector.matches(labels):
                continue  # contradictory selector: no pod can match
            name = "[all pods]" if policy.pod_selector.is_empty else f"[{policy.pod_selector}]"
            extra.append(Workload(namespace=policy.namespace, name=name, kind="Pod",
                                  labels=labels, representative=True))
        return extra

    def index_of(self, endpoint: Workload) -> int:
        return self.network.endpoints.index(endpoint)

    def selected_endpoints(self, policy: NetworkPolicy) -> list[int]:
        return list(iter_bits(self.network.selected(policy)))

    def dns_endpoints(self) -> list[int]:
        net = self.network
        selector = LabelSelector(tuple(sorted(self.dns.labels.items())))
        bits = net.ns_members.get(self.dns.namespace, 0) & net.pod_index.select(selector)
        return list(iter_bits(bits))


def suppressed(rule_id: str, source: SourceObject | None) -> bool:
    """`netpol-fix.io/ignore: "rule-a,rule-b"` (or `all`) on the object."""
    if source is None:
        return False
    meta: Any = source.obj.get("metadata") or {}
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict):
        return False
    value = annotations.get(IGNORE_ANNOTATION)
    if not isinstance(value, str):
        return False
    names = {part.strip().lower() for part in value.split(",")}
    return "all" in names or rule_id in names


def find_dns_target(inventory: Inventory, settings: Settings) -> DnsTarget:
    """The DNS pods: the kube-dns Service in the sources, OpenShift's, or the settings;
    with NodeLocal DNSCache's address when the sources hold its DaemonSet."""
    target = _dns_pods(inventory, settings)
    cache = node_local_dns(inventory)
    if cache is None:
        return target
    return replace(target, node_local=NODELOCAL_DNS_IP,
                   why=f"{target.why}; NodeLocal DNSCache ({cache.kind} {cache.namespace}/"
                       f"{cache.name}, hostNetwork) answers on {NODELOCAL_DNS_IP}")


def node_local_dns(inventory: Inventory) -> Workload | None:
    """NodeLocal DNSCache's DaemonSet (the addon's name or its `k8s-app` label, on the host
    network), if the sources hold it."""
    for workload in inventory.workloads:
        if workload.host_network and NODELOCAL_DNS_NAME in (
                workload.name, workload.labels.get("k8s-app")):
            return workload
    return None


def _dns_pods(inventory: Inventory, settings: Settings) -> DnsTarget:
    namespace = settings.dns_namespace
    for service in inventory.services:
        if service.namespace == namespace and service.name in ("kube-dns", "dns-default") \
                and service.selector:
            port = 53
            for sp in service.ports:
                if sp.port == 53 and isinstance(sp.target_port, int):
                    port = sp.target_port
            return DnsTarget(namespace, dict(service.selector), port,
                             f"Service {namespace}/{service.name} in the sources")
    openshift = any(name.startswith("openshift-") for name in inventory.namespaces)
    if namespace == OPENSHIFT_DNS_NAMESPACE or (openshift and namespace == "kube-system"):
        return DnsTarget(OPENSHIFT_DNS_NAMESPACE, dict(OPENSHIFT_DNS_LABELS), 5353,
                         "OpenShift DNS (namespace openshift-dns, pods listen on 5353)")
    return DnsTarget(namespace, settings.dns_labels(), 53,
                     f"--dns-namespace {namespace} and --dns-selector {settings.dns_selector}")
