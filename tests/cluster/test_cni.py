"""CNI detection from DaemonSets written after each CNI's real manifests."""

from __future__ import annotations

from typing import Any

import pytest

from netpol_fix.cluster.read import effective_cni
from netpol_fix.inventory.cni import CniDetection, detect_cni
from tests.cluster import manifests as m


@pytest.mark.parametrize(("daemonset", "name", "enforced", "evidence"), [
    (m.CILIUM, "cilium", True, "DaemonSet kube-system/cilium"),
    (m.GKE_ANETD, "cilium", True, "DaemonSet kube-system/anetd"),
    (m.CALICO, "calico", True, "DaemonSet kube-system/calico-node"),
    (m.CALICO_RENAMED, "calico", True, "registry.example.com/mirror/calico/node:v3.26.1"),
    (m.CANAL, "calico", True, "Calico semantics"),
    (m.RKE2_CANAL, "calico", True, "DaemonSet kube-system/rke2-canal"),
    (m.aws_node("true"), "aws-vpc-cni", True, "--enable-network-policy=true"),
    (m.aws_node("false"), "aws-vpc-cni", False, "--enable-network-policy=false"),
    (m.aws_node(None), "aws-vpc-cni", False, "no aws-eks-nodeagent container"),
    (m.FLANNEL, "flannel", False, "does not enforce NetworkPolicy"),
    (m.WEAVE, "weave", True, "DaemonSet kube-system/weave-net"),
    (m.ANTREA, "antrea", True, "DaemonSet kube-system/antrea-agent"),
    (m.KUBE_ROUTER, "unknown", True, "kube-router"),
])
def test_each_cni_from_its_daemonset(daemonset: dict[str, Any], name: str,
                                     enforced: bool, evidence: str) -> None:
    found = detect_cni([m.KUBE_PROXY, daemonset], [])
    assert (found.name, found.network_policy_enforced) == (name, enforced)
    assert evidence in found.reason


def test_renamed_release_found_by_template_label() -> None:
    renamed = m.daemonset("cni-agent", "cilium", {"k8s-app": "cilium"},
                          [m.container("agent", "registry.example.com/agent:1")])
    found = detect_cni([renamed], [])
    assert found.name == "cilium" and "label k8s-app=cilium" in found.reason


def test_weave_without_its_policy_controller_does_not_enforce() -> None:
    weave = m.daemonset("weave-net", "kube-system", {"name": "weave-net"},
                        [m.container("weave", "weaveworks/weave-kube:2.8.1")])
    found = detect_cni([weave], [])
    assert found.name == "weave" and found.network_policy_enforced is False
    assert "weave-npc" in found.reason


def test_cilium_chained_on_aws_vpc_cni_is_cilium() -> None:
    found = detect_cni([m.aws_node(None), m.CILIUM], [])
    assert found.name == "cilium"
    assert "also found AWS VPC CNI" in found.reason


def test_calico_policy_only_on_eks_is_calico_not_a_non_enforcing_aws() -> None:
    found = detect_cni([m.aws_node("false"), m.CALICO], [])
    assert found.name == "calico" and found.network_policy_enforced is True


def test_kube_router_over_flannel_is_reported_as_the_enforcer() -> None:
    found = detect_cni([m.FLANNEL, m.KUBE_ROUTER], [])
    assert found.name == "unknown" and found.network_policy_enforced is True
    assert "kube-router" in found.reason and "Flannel" in found.reason


def test_pods_are_evidence_when_no_daemonset_matches() -> None:
    template = m.CILIUM["spec"]["template"]
    cilium_pod = {"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "cilium-x7k2p", "namespace": "kube-system",
                               "labels": template["metadata"]["labels"]},
                  "spec": template["spec"]}
    found = detect_cni([], [cilium_pod])
    assert found.name == "cilium" and "Pod kube-system/cilium-x7k2p" in found.reason


def test_k3s_recognised_from_node_annotations() -> None:
    found = detect_cni([m.KUBE_PROXY], [], [m.K3S_NODE])
    assert found.name == "unknown" and "k3s" in found.reason
    plain = {**m.K3S_NODE, "status": {"nodeInfo": {"kubeletVersion": "v1.30.2"}}}
    found = detect_cni([], [], [plain])
    assert found.name == "flannel" and found.network_policy_enforced is False


def test_nothing_known_is_unknown() -> None:
    found = detect_cni([m.KUBE_PROXY], [])
    assert found == CniDetection("unknown", "no known CNI among 1 DaemonSet(s) and 0 pod(s) "
                                 "read", None)


def test_explicit_setting_wins_and_says_what_the_cluster_looks_like() -> None:
    detected = detect_cni([m.CILIUM], [])
    assert effective_cni("auto", detected) is detected
    chosen = effective_cni("calico", detected)
    assert chosen.name == "calico" and "looks like cilium" in chosen.reason
    agreed = effective_cni("cilium", detected)
    assert agreed.network_policy_enforced is True and "agrees" in agreed.reason
    assert effective_cni("auto", None).name == "unknown"
    assert detected.to_json() == {"name": "cilium", "reason": detected.reason,
                                  "networkPolicyEnforced": True}
