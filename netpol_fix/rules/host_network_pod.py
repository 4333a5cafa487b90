"""host-network-pod: a policy selects hostNetwork pods, which NetworkPolicy cannot govern.

A hostNetwork pod uses the node's network namespace: its traffic is the node's traffic, and
CNIs do not apply pod policies to it. A policy that selects it by labels looks like
protection (node-exporter's ingress limited to Prometheus, say) and enforces nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from netpol_fix.model.findings import NONE, WARNING, Finding
from netpol_fix.model.objects import Workload, endpoint_ref
from netpol_fix.model.policy import NetworkPolicy
from netpol_fix.rules.base import Rule, RuleDoc
from netpol_fix.rules.context import Context, suppressed


class HostNetworkPod(Rule):
    id = "host-network-pod"
    severity = WARNING
    applicability = NONE
    summary = "A policy selects hostNetwork pods, which NetworkPolicy cannot govern"
    doc = RuleDoc(
        why=(
            "Pods with hostNetwork: true share the node's network namespace. NetworkPolicy "
            "applies to pod network interfaces, so no CNI isolates such pods: the ingress and "
            "egress rules of a policy that selects them are not enforced, and as peers they "
            "appear with the node's address, so pod and namespace selectors of other policies "
            "do not match them either. The manifest reads as if the pod were protected."),
        example=(
            "kind: DaemonSet  # node-exporter\nspec:\n  template:\n    spec:\n"
            "      hostNetwork: true\n---\nkind: NetworkPolicy\n"
            "spec:\n  podSelector: {matchLabels: {app.kubernetes.io/name: node-exporter}}\n"
            "  ingress:\n  - from: [{podSelector: {matchLabels: {app: prometheus}}}]"),
        fix=(
            "None that a NetworkPolicy can express. If the pods do not need the node's "
            "network, run them as normal pods (drop hostNetwork) and the policy applies. "
            "Otherwise restrict the port on the node: a "
            "node firewall, or host policies of the CNI (Calico HostEndpoint with "
            "GlobalNetworkPolicy, Cilium host firewall with a CiliumClusterwideNetworkPolicy "
            "nodeSelector). Peers that must reach a hostNetwork pod need an ipBlock for the "
            "node addresses."),
        unsafe="There is no automatic fix.",
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        findings = []
        host_workloads: dict[str, list[Workload]] = {}
        for workload in ctx.inventory.workloads:
            if workload.host_network:
                host_workloads.setdefault(workload.namespace, []).append(workload)
        for policy in ctx.inventory.policies:
            candidates = host_workloads.get(policy.namespace)
            if not candidates or suppressed(self.id, policy.source):
                continue
            hosts = [w for w in candidates if policy.pod_selector.matches(w.labels)]
            if hosts:
                findings.append(self._finding(policy, hosts))
        return findings

    def _finding(self, policy: NetworkPolicy, hosts: list[Workload]) -> Finding:
        names = ", ".join(f"{w.kind}/{w.name}" for w in hosts)
        directions = " and ".join(d.lower() for d in policy.policy_types)
        message = (f"NetworkPolicy {policy.key} selects hostNetwork pods ({names}); its "
                   f"{directions} isolation does not apply to them, since they use the "
                   "node's network. Run them as normal pods (without hostNetwork) if they do "
                   "not need the node's network, else restrict them with a node firewall or "
                   "the CNI's host policies")
        return Finding(self.id, self.severity, policy.ref, policy.source, message,
                       [endpoint_ref(w) for w in hosts])
