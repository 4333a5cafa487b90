"""cilium-cidr-selects-pods: CIDR rules that contain pod addresses."""

from __future__ import annotations

import json

from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.config import Settings
from netpol_fix.inventory.load import load_inventory
from netpol_fix.rules.cilium_cidr_selects_pods import CiliumCidrSelectsPods
from netpol_fix.rules.context import Context
from tests.rules.helpers import context

RULE = CiliumCidrSelectsPods()

CNP = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: to-db
  namespace: shop
  ANNOTATIONS
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toCIDR: [THE_CIDR]
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: data, labels: {app: db}}
spec: {containers: [{name: c}]}
status: {podIP: 10.1.2.3, podIPs: [{ip: 10.1.2.3}]}
"""


def cnp(cidr: str, annotations: str = "") -> str:
    return CNP.replace("THE_CIDR", cidr).replace("ANNOTATIONS", annotations)


def test_cidr_holding_a_pod_ip() -> None:
    [finding] = RULE.check(context(cnp("10.1.2.3/32")))
    assert finding.object.kind == "CiliumNetworkPolicy" and finding.object.name == "to-db"
    assert "data/db-0[Pod]" in finding.message
    assert finding.affected == ["data/Pod/db-0"]
    assert finding.fix is None


def test_cidr_overlapping_pod_cidr_setting() -> None:
    [finding] = RULE.check(context(cnp("10.0.0.0/8"), pod_cidr="10.244.0.0/16"))
    assert "pod CIDR 10.244.0.0/16" in finding.message


def test_external_cidr_is_fine() -> None:
    assert list(RULE.check(context(cnp("192.0.2.0/24"), pod_cidr="10.244.0.0/16"))) == []


def test_except_covering_the_pods_is_fine() -> None:
    text = CNP.replace("ANNOTATIONS", "").replace(
        "- toCIDR: [THE_CIDR]", "- toCIDRSet: [{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}]")
    assert list(RULE.check(context(text, pod_cidr="10.1.0.0/16"))) == []
    [finding] = RULE.check(context(text, pod_cidr="10.2.0.0/16"))
    assert "toCIDRSet 10.0.0.0/8 except 10.1.0.0/16" in finding.message


def test_specs_list_and_garbage_are_read_defensively() -> None:
    text = """
    apiVersion: cilium.io/v2
    kind: CiliumClusterwideNetworkPolicy
    metadata: {name: odd}
    specs:
    - endpointSelector: {}
      ingress:
      - fromCIDR: ["{{ .PodCIDR }}", 10.1.0.0/16]
    - "not a mapping"
    - ingress: "nope"
    """
    [finding] = RULE.check(context(text, pod_cidr="10.1.0.0/16"))
    assert finding.object.namespace is None


def test_network_policy_ip_block_under_cilium_only() -> None:
    text = """
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: from-pods, namespace: shop}
    spec:
      podSelector: {}
      ingress:
      - from: [{ipBlock: {cidr: 10.0.0.0/8}}]
    """
    assert list(RULE.check(context(text, pod_cidr="10.1.0.0/16", cni="calico"))) == []
    [finding] = RULE.check(context(text, pod_cidr="10.1.0.0/16", cni="cilium"))
    assert finding.object.kind == "NetworkPolicy"
    assert "ingress rule #1 peer #1 ipBlock 10.0.0.0/8" in finding.message
    assert finding.affected == ["shop/[all pods]"]


def test_suppressed() -> None:
    text = cnp("10.1.2.3/32", 'annotations: {"netpol-fix.io/ignore": "cilium-cidr-selects-pods"}')
    assert list(RULE.check(context(text))) == []


def test_corpus_cilium_cidr_example(corpus) -> None:  # type: ignore[no-untyped-def]
    inventory = load_inventory([str(corpus / "cilium/examples/policies/l3/cidr/cidr.yaml")])
    [finding] = RULE.check(Context(inventory, Settings(cni="cilium", pod_cidr="10.0.0.0/16")))
    assert "toCIDRSet 10.0.0.0/8 except 10.96.0.0/12" in finding.message
    assert "20.1.1.1" not in finding.message


def test_corpus_home_ops_anchors_and_excepts(corpus) -> None:  # type: ignore[no-untyped-def]
    path = corpus / "onedr0p-home-ops"
    inventory = load_inventory([str(path)])
    assert inventory.cilium_policies
    # k3s pod CIDR 10.42.0.0/16 is excepted: the deny rule is written correctly
    assert list(RULE.check(Context(inventory, Settings(cni="cilium",
                                                      pod_cidr="10.42.0.0/16")))) == []
    [finding] = RULE.check(Context(inventory, Settings(cni="cilium", pod_cidr="10.244.0.0/16")))
    assert finding.object.name == "home-ops-runner"
    assert "neither allows nor denies" in finding.message


def test_cli(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cnp.yaml"
    path.write_text(cnp("10.0.0.0/8"))
    result = CliRunner().invoke(main, ["scan", "--format", "json", "--cni", "cilium",
                                       "--pod-cidr", "10.1.0.0/16", str(path)])
    assert result.exit_code == 1, result.output
    [finding] = [f for f in json.loads(result.output)["findings"] if f["rule"] == RULE.id]
    assert finding["fix"] is None and finding["severity"] == "warning"
