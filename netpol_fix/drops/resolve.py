"""A flow's endpoint -> a workload of the sources, an address outside the pods, a node, or
"unresolved" with the reason.

In order: the namespace and pod name (exact, then without the ReplicaSet/pod hash or the
StatefulSet ordinal), Hubble's `workloads`, the pod's labels (`k8s:` prefixes stripped,
Cilium's own `io.cilium.k8s.*` labels set apart: `io.cilium.k8s.namespace.labels.K=V` are
the live namespace's labels), then the IP against the pods of the sources or the cluster.
A pod the sources do not hold but whose namespace and labels the flow gives becomes an
*observed* stand-in with those labels: policies select by labels, so the sources' verdict
for it is still well defined (and said to rest on the flow's labels). Cilium's reserved
identities: world (and world-ipv4/-ipv6) is an address outside the cluster; host,
remote-node, kube-apiserver, health, ingress, init, unmanaged are node-side endpoints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from netpol_fix.drops.formats import Endpoint
from netpol_fix.model.objects import Workload

WORLD = frozenset({"world", "world-ipv4", "world-ipv6", "net", "ns"})
CILIUM_INTERNAL = ("io.cilium.k8s.policy.", "io.kubernetes.pod.namespace",
                   "io.cilium.k8s.namespace.labels.")
NAMESPACE_LABEL_PREFIX = "io.cilium.k8s.namespace.labels."
# Kubernetes name suffixes: ReplicaSet pod-template-hash + pod suffix, a generated 5-char
# suffix (DaemonSet, Job, ReplicaSet pods), a StatefulSet ordinal
_RS_POD = re.compile(r"^(?P<base>.+)-(?P<hash>[a-z0-9]{6,10})-[a-z0-9]{5}$")
_GENERATED = re.compile(r"^(?P<base>.+)-[a-z0-9]{5}$")
_ORDINAL = re.compile(r"^(?P<base>.+)-\d+$")
_RS_NAME = re.compile(r"^(?P<base>.+)-[a-z0-9]{6,10}$")
CACHE_LIMIT = 100_000
DNS_NAMES = ("coredns", "kube-dns")

WORKLOAD, OBSERVED, EXTERNAL, NODE, UNRESOLVED = (
    "workload", "observed", "external", "node", "unresolved")


@dataclass(frozen=True)
class Resolved:
    """What one side of a flow is, as the engine can ask about it."""

    kind: str
    ref: str
    """How the group names it: `ns/name[Kind]`, an address, `host 10.0.0.1`, or why not."""
    workload: Workload | None = None
    address: str | None = None
    how: str = ""
    """How it was resolved (`pod name`, `labels`, `IP`...) or why it could not be."""
    namespace_labels: tuple[tuple[str, str], ...] = ()
    """The live namespace's labels, when Cilium's flow carries them."""
    label_drift: tuple[str, ...] = field(default=())
    """Labels of the sources' workload that the observed pod does not carry."""


def split_labels(labels: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """(pod labels, namespace labels) from Hubble (`k8s:app=web`) or Calico (`app=web`)
    label strings; Cilium's internal labels and reserved ones are left out."""
    pod: dict[str, str] = {}
    namespace: dict[str, str] = {}
    for text in labels:
        if not isinstance(text, str):
            continue
        source, colon, rest = text.partition(":")
        if colon and "=" not in source:
            if source not in ("k8s", "container", "unspec", "any"):
                continue
            text = rest
        key, _, value = text.partition("=")
        if key.startswith(NAMESPACE_LABEL_PREFIX):
            namespace[key[len(NAMESPACE_LABEL_PREFIX):]] = value
        elif key and not key.startswith(CILIUM_INTERNAL):
            pod[key] = value
    return pod, namespace


def name_candidates(pod: str) -> list[tuple[str, str | None]]:
    """(workload name, kind it would be) for a pod name, most specific first."""
    found: list[tuple[str, str | None]] = [(pod, None)]
    match = _RS_POD.match(pod)
    if match:
        found += [(match["base"], "Deployment"),
                  (f"{match['base']}-{match['hash']}", "ReplicaSet")]
    match = _GENERATED.match(pod)
    if match:
        found.append((match["base"], None))
    match = _ORDINAL.match(pod)
    if match:
        found.append((match["base"], "StatefulSet"))
    return found


def aggregated_candidates(name: str) -> list[tuple[str, str | None]]:
    """Calico names a set of pods by their generateName with a `*` (`web-7c9f8d6b5-*`,
    a ReplicaSet's pods; `agent-*`): the name without it, then without a ReplicaSet's
    pod-template-hash (the Deployment)."""
    base = name.rstrip("*").rstrip("-")
    found: list[tuple[str, str | None]] = [(base, None)]
    match = _RS_NAME.match(base)
    if match:
        found.append((match["base"], "Deployment"))
    return found


class Resolver:
    """Resolves endpoints against the workloads of one inventory, with a bounded memo (a
    long `--follow` run sees the same few pods again and again)."""

    def __init__(self, workloads: list[Workload],
                 dns: tuple[str, dict[str, str]] | None = None) -> None:
        """`dns`: the cluster DNS pods' namespace and labels (rules/context DnsTarget), so
        a DNS pod a field-masked flow names without labels still stands in."""
        self.workloads = workloads
        self.dns = dns
        self.by_namespace: dict[str, list[Workload]] = {}
        self.by_pod: dict[tuple[str, str], Workload] = {}
        self.by_ip: dict[str, Workload] = {}
        for workload in workloads:
            if workload.representative:
                continue
            self.by_namespace.setdefault(workload.namespace, []).append(workload)
            for pod in workload.pods:
                self.by_pod[(workload.namespace, pod)] = workload
            for ip in workload.ips:
                if not workload.host_network:
                    self.by_ip[ip] = workload
        self._memo: dict[tuple[object, ...], Resolved] = {}

    def resolve(self, endpoint: Endpoint) -> Resolved:
        ep = endpoint
        namespace = ep.namespace
        # a plain tuple hashes and compares in C (a dataclass key would call Python
        # methods per line); the address counts only where it can decide (see _resolve)
        key = (namespace, ep.pod, ep.workloads, ep.labels, ep.identity, ep.reserved,
               ep.aggregated_name,
               ep.ip if namespace is None or not (ep.pod or ep.labels) else None)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= CACHE_LIMIT:
                self._memo.clear()
            found = self._resolve(endpoint)
            self._memo[key] = found
        return found

    def _resolve(self, ep: Endpoint) -> Resolved:
        if ep.namespace is None and ep.reserved is not None:
            return self._reserved(ep)
        pod_labels, ns_labels = split_labels(ep.labels)
        ns_items = tuple(sorted(ns_labels.items()))
        if ep.namespace is not None:
            hit = self._by_name(ep, pod_labels)
            if isinstance(hit, str):
                return Resolved(UNRESOLVED, f"{ep.namespace}/{ep.pod or '?'} (unresolved)",
                                how=hit)
            if hit is None:
                hit = self._by_labels(ep.namespace, pod_labels)
            if hit is not None:
                workload, how = hit
                drift = tuple(f"{k}={v}" for k, v in sorted(workload.labels.items())
                              if pod_labels and pod_labels.get(k) != v)
                return Resolved(WORKLOAD, workload.key, workload, how=how,
                                namespace_labels=ns_items, label_drift=drift)
        # the address decides only for what the flow names by nothing else: a pod it names
        # (or gives labels for) that the sources do not hold is another pod than the one
        # the sources give that address (addresses are reused)
        if ep.ip is not None and ep.ip in self.by_ip and (
                ep.namespace is None or not (ep.pod or ep.labels)):
            workload = self.by_ip[ep.ip]
            return Resolved(WORKLOAD, workload.key, workload, how=f"IP {ep.ip}")
        if ep.namespace is not None and pod_labels:
            standin = self._standin(ep, pod_labels)
            return Resolved(OBSERVED, standin.key, standin,
                            how="not in the sources; its labels from the flow",
                            namespace_labels=ns_items)
        if ep.reserved is not None:
            return self._reserved(ep)
        dns = self._dns_standin(ep)
        if dns is not None:
            return dns
        if ep.namespace is not None:
            what = ep.pod or ep.aggregated_name or "a pod"
            return Resolved(UNRESOLVED, f"{ep.namespace}/{what} (unresolved)",
                            how=f"no workload of the sources in namespace {ep.namespace} is "
                                f"{what}, and the flow carries no labels to stand in for it")
        if ep.ip is not None:
            why = f"no pod of the sources has IP {ep.ip}"
            if ep.identity is not None:
                why += f" (Cilium identity {ep.identity})"
            return Resolved(UNRESOLVED, f"{ep.ip} (unresolved)",
                            how=why + "; read the cluster (--cluster) or pods with their "
                                      "status for pod addresses")
        return Resolved(UNRESOLVED, "? (unresolved)", how="the flow names no endpoint")

    def _dns_standin(self, ep: Endpoint) -> Resolved | None:
        """A pod of the DNS namespace named like the cluster DNS (`coredns-...`,
        `kube-dns-...`) that the flow gives no labels for: the DNS pods of the settings."""
        if self.dns is None or ep.namespace != self.dns[0] or ep.labels:
            return None
        names = [name for _kind, name in ep.workloads] + [ep.pod or ""]
        if not any(n == base or n.startswith(f"{base}-") for n in names
                   for base in DNS_NAMES):
            return None
        base = next(b for b in DNS_NAMES if any(n == b or n.startswith(f"{b}-")
                                                for n in names))
        standin = Workload(namespace=ep.namespace, name=base, kind="Deployment",
                           labels=dict(self.dns[1]), pods=(ep.pod,) if ep.pod else ())
        return Resolved(OBSERVED, standin.key, standin,
                        how="the cluster DNS by its name, with the DNS pods' labels of the "
                            "settings (the flow carries none)")

    def _reserved(self, ep: Endpoint) -> Resolved:
        name = ep.reserved or "world"
        if name in WORLD:
            label = "world" if name.startswith("world") else f"Calico {name}"
            return Resolved(EXTERNAL, ep.ip or label, address=ep.ip,
                            how=f"{label} (outside the cluster's pods)")
        shown = {"hep": "host endpoint"}.get(name, name)
        return Resolved(NODE, f"{shown} {ep.ip}" if ep.ip else shown, address=ep.ip,
                        how=f"reserved identity {shown}: the node side, not a pod")

    def _by_name(self, ep: Endpoint,
                 labels: dict[str, str]) -> tuple[Workload, str] | str | None:
        """A workload by pod name or Hubble's `workloads`; a string says why it is
        ambiguous; None when no name matches."""
        namespace = ep.namespace or ""
        if ep.pod is not None:
            exact = self.by_pod.get((namespace, ep.pod))
            if exact is not None:
                return exact, "pod name"
        names: list[tuple[str, str | None]] = [(name, kind or None)
                                               for kind, name in ep.workloads]
        if ep.pod is not None:
            names += name_candidates(ep.pod)
        if ep.aggregated_name is not None:
            names += aggregated_candidates(ep.aggregated_name)
        here = self.by_namespace.get(namespace, [])
        for name, kind in names:
            hits = [w for w in here if w.name == name and (kind is None or w.kind == kind)]
            if len(hits) > 1 and labels:
                hits = [w for w in hits if _subset(w.labels, labels)] or hits
            if len(hits) == 1:
                return hits[0], "workload name" if (name, kind) in [
                    (n, k or None) for k, n in ep.workloads] else "pod name"
            if len(hits) > 1:
                return (f"pod {ep.pod} could be any of " +
                        ", ".join(w.key for w in hits))
        return None

    def _by_labels(self, namespace: str,
                   labels: dict[str, str]) -> tuple[Workload, str] | None:
        if not labels:
            return None
        hits = [w for w in self.by_namespace.get(namespace, [])
                if w.labels and _subset(w.labels, labels)]
        if not hits:
            return None
        best = max(len(w.labels) for w in hits)
        top = [w for w in hits if len(w.labels) == best]
        return (top[0], "labels") if len(top) == 1 else None

    def _standin(self, ep: Endpoint, labels: dict[str, str]) -> Workload:
        name, kind = ep.pod or ep.aggregated_name or "pod", "Pod"
        if ep.workloads:
            kind, name = ep.workloads[0][0] or "Pod", ep.workloads[0][1]
        elif ep.pod is not None:
            for candidate, guess in name_candidates(ep.pod)[1:]:
                if guess == "Deployment" or guess is None:
                    name, kind = candidate, guess or "Pod"
                    break
        elif ep.aggregated_name is not None:
            name, guess = aggregated_candidates(ep.aggregated_name)[-1]
            name, kind = name or "pod", guess or "Pod"
        return Workload(namespace=ep.namespace or "default", name=name, kind=kind,
                        labels=labels, pods=(ep.pod,) if ep.pod else ())


def _subset(small: object, big: dict[str, str]) -> bool:
    items = small.items() if isinstance(small, dict) else dict(small).items()  # type: ignore[call-overload]
    return all(big.get(k) == v for k, v in items)
