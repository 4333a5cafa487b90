"""Which CNI plugin a live cluster runs, and whether it enforces NetworkPolicy.

Why: several causes of dropped traffic exist only under one CNI (Cilium drops ICMP under L4
policies, AWS VPC CNI keeps 24 ports per peer, Flannel enforces nothing), and a manifest
repository cannot say which CNI runs. A cluster can: its CNI runs as a DaemonSet. Names
change between distributions and Helm releases (`anetd` on GKE Dataplane V2, `rke2-canal`,
a release-prefixed `calico-node`), so DaemonSet names, pod template labels and container
images are all matched; any one of them is evidence.

When several plugins are found (Cilium chained on AWS VPC CNI, Calico in policy-only mode,
kube-router's policy controller over Flannel), the one that enforces policy is reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CniDetection:
    """The CNI as a Settings value (`cilium`, `calico`, ...), why, and whether it enforces
    NetworkPolicy (None when that cannot be told from what was read)."""

    name: str
    reason: str
    network_policy_enforced: bool | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason,
                "networkPolicyEnforced": self.network_policy_enforced}


@dataclass(frozen=True)
class _Signature:
    """How one plugin shows itself: DaemonSet names, template labels, image fragments."""

    plugin: str
    names: frozenset[str]
    labels: tuple[Mapping[str, str], ...]
    images: tuple[str, ...]


# Order is precedence: the first plugin found that enforces policy wins. Canal comes before
# Calico and Flannel because its DaemonSet carries both their images.
_SIGNATURES = (
    _Signature("cilium", frozenset({"cilium", "anetd"}), ({"k8s-app": "cilium"},),
               ("cilium/cilium",)),
    _Signature("canal", frozenset({"canal", "rke2-canal"}), ({"k8s-app": "canal"},), ()),
    _Signature("calico", frozenset({"calico-node"}), ({"k8s-app": "calico-node"},),
               ("calico/node",)),
    _Signature("antrea", frozenset({"antrea-agent"}),
               ({"app": "antrea", "component": "antrea-agent"},),
               ("antrea/antrea-agent", "antrea/antrea-ubuntu")),
    _Signature("weave", frozenset({"weave-net"}), ({"name": "weave-net"},),
               ("weaveworks/weave-kube", "weave-kube")),
    _Signature("kube-router", frozenset({"kube-router"}), ({"k8s-app": "kube-router"},),
               ("kube-router",)),
    _Signature("aws-vpc-cni", frozenset({"aws-node"}), ({"k8s-app": "aws-node"},),
               ("amazon-k8s-cni",)),
    _Signature("flannel", frozenset({"kube-flannel-ds", "kube-flannel"}),
               ({"app": "flannel"},), ("flannel",)),
)
_PRECEDENCE = [s.plugin for s in _SIGNATURES]
_SETTINGS_NAME = {"canal": "calico", "kube-router": "unknown"}
_LABEL = {"cilium": "Cilium", "canal": "Canal", "calico": "Calico", "antrea": "Antrea",
          "weave": "Weave Net", "kube-router": "kube-router", "aws-vpc-cni": "AWS VPC CNI",
          "flannel": "Flannel"}
AWS_AGENT_CONTAINER = "aws-eks-nodeagent"
AWS_POLICY_FLAG = "--enable-network-policy"


@dataclass(frozen=True)
class _Match:
    plugin: str
    evidence: str
    obj: dict[str, Any]


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _containers(pod_spec: Any) -> list[dict[str, Any]]:
    if not isinstance(pod_spec, dict):
        return []
    found = []
    for key in ("initContainers", "containers"):
        found += [c for c in pod_spec.get(key) or [] if isinstance(c, dict)]
    return found


def _where(obj: dict[str, Any], kind: str) -> str:
    meta = obj.get("metadata") or {}
    return f"{kind} {meta.get('namespace') or ''}/{meta.get('name') or ''}"


def _match(obj: dict[str, Any], kind: str, labels: Any, pod_spec: Any) -> _Match | None:
    """The first signature the object carries, with the evidence as one phrase."""
    name = _dig(obj, "metadata", "name")
    labels = labels if isinstance(labels, dict) else {}
    images = [str(c.get("image") or "") for c in _containers(pod_spec)]
    where = _where(obj, kind)
    if any("calico/node" in i for i in images) and any("flannel" in i for i in images):
        return _Match("canal", f"{where} runs both calico/node and flannel", obj)
    for sig in _SIGNATURES:
        if kind == "DaemonSet" and name in sig.names:
            return _Match(sig.plugin, where, obj)
        for wanted in sig.labels:
            if all(labels.get(k) == v for k, v in wanted.items()):
                shown = ",".join(f"{k}={v}" for k, v in wanted.items())
                return _Match(sig.plugin, f"{where} with label {shown}", obj)
        for fragment in sig.images:
            image = next((i for i in images if fragment in i), None)
            if image is not None:
                return _Match(sig.plugin, f"{where} running image {image}", obj)
    return None


def _aws_policy_enabled(pod_spec: Any) -> tuple[bool, str]:
    """The EKS guide's test: container aws-eks-nodeagent with --enable-network-policy=true."""
    agent = next((c for c in _containers(pod_spec) if c.get("name") == AWS_AGENT_CONTAINER),
                 None)
    if agent is None:
        return False, f"no {AWS_AGENT_CONTAINER} container, so no network policy agent"
    args = [str(a) for a in (agent.get("args") or []) + (agent.get("command") or [])]
    for arg in args:
        flag, _, value = arg.partition("=")
        if flag == AWS_POLICY_FLAG:
            enabled = value.lower() == "true"
            return enabled, f"{AWS_AGENT_CONTAINER} has {arg}"
    return False, f"{AWS_AGENT_CONTAINER} lacks {AWS_POLICY_FLAG}=true"


def _enforcement(match: _Match) -> tuple[bool | None, str]:
    """Whether the matched plugin enforces NetworkPolicy, and a phrase saying why."""
    plugin = match.plugin
    spec = (_dig(match.obj, "spec", "template", "spec") if match.obj.get("kind") != "Pod"
            else match.obj.get("spec"))
    if plugin == "aws-vpc-cni":
        if spec is None:
            return None, "network policy support not visible on a pod"
        return _aws_policy_enabled(spec)
    if plugin == "flannel":
        return False, "Flannel does not enforce NetworkPolicy"
    if plugin == "weave" and spec is not None:
        names = {c.get("name") for c in _containers(spec)}
        images = " ".join(str(c.get("image") or "") for c in _containers(spec))
        if "weave-npc" not in names and "weave-npc" not in images:
            return False, "no weave-npc container, so no policy controller"
    return True, ""


def _from_nodes(nodes: Sequence[dict[str, Any]]) -> CniDetection | None:
    """k3s embeds flannel and kube-router's policy controller: no DaemonSet, only node
    annotations and the kubelet version show it."""
    for node in nodes:
        annotations = _dig(node, "metadata", "annotations") or {}
        flannel = sorted(k for k in annotations if str(k).startswith("flannel.alpha.coreos.com/"))
        if not flannel:
            continue
        name = _dig(node, "metadata", "name")
        version = str(_dig(node, "status", "nodeInfo", "kubeletVersion") or "")
        if "+k3s" in version:
            return CniDetection(
                "unknown",
                f"k3s (node {name}, kubelet {version}): embedded Flannel with kube-router's "
                "NetworkPolicy controller, which enforces policy unless k3s runs with "
                "--disable-network-policy; no CNI-specific rules apply", None)
        return CniDetection(
            "flannel", f"node {name} carries Flannel annotations ({flannel[0]}) and no other "
            "CNI was found; Flannel does not enforce NetworkPolicy", False)
    return None


def _describe(winner: _Match, others: Iterable[_Match]) -> str:
    parts = [f"{_LABEL[winner.plugin]}: {winner.evidence}"]
    if winner.plugin == "canal":
        parts.append("Canal is Calico's policy engine over Flannel, analysed with Calico "
                     "semantics")
    if winner.plugin == "kube-router":
        parts.append("kube-router's policy controller has no CNI-specific rules here")
    also = sorted({f"{_LABEL[m.plugin]} ({m.evidence})" for m in others
                   if m.plugin != winner.plugin})
    if also:
        parts.append(f"also found {', '.join(also)}; {_LABEL[winner.plugin]} is taken as "
                     "the policy enforcer")
    return "; ".join(parts)


def detect_cni(daemonsets: Sequence[dict[str, Any]], pods: Sequence[dict[str, Any]],
               nodes: Sequence[dict[str, Any]] = ()) -> CniDetection:
    """Detect the CNI from DaemonSets (preferred), pods, then nodes (k3s).

    Pods are evidence when DaemonSets were not readable; nodes only when nothing else is
    found. The result always names a Settings value; `unknown` when nothing matched.
    """
    matches: list[_Match] = []
    for ds in daemonsets:
        template = _dig(ds, "spec", "template") or {}
        found = _match(ds, "DaemonSet", _dig(template, "metadata", "labels"),
                       _dig(template, "spec"))
        if found:
            matches.append(found)
    if not matches:
        for pod in pods:
            found = _match(pod, "Pod", _dig(pod, "metadata", "labels"), pod.get("spec"))
            if found:
                matches.append(found)
    if not matches:
        from_nodes = _from_nodes(nodes)
        if from_nodes is not None:
            return from_nodes
        return CniDetection(
            "unknown", f"no known CNI among {len(daemonsets)} DaemonSet(s) and "
            f"{len(pods)} pod(s) read", None)
    enforcing = [(m, _enforcement(m)) for m in matches]
    enforcing.sort(key=lambda pair: (pair[1][0] is False, _PRECEDENCE.index(pair[0].plugin)))
    winner, (enforced, why) = enforcing[0]
    reason = _describe(winner, matches)
    if why:
        reason += f"; {why}"
    return CniDetection(_SETTINGS_NAME.get(winner.plugin, winner.plugin), reason, enforced)
