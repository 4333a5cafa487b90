"""host-network-pod: policies that select pods they cannot govern."""

from __future__ import annotations

from pathlib import Path

from netpol_fix.config import Settings
from netpol_fix.inventory.load import load_inventory
from netpol_fix.model.findings import WARNING
from netpol_fix.rules.context import Context
from netpol_fix.rules.host_network_pod import HostNetworkPod
from tests.rules.helpers import run, scan_json

RULE = HostNetworkPod()

TEXT = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: ops}
spec:
  template:
    metadata: {labels: {app: agent}}
    spec: {hostNetwork: true, containers: [{name: c, ports: [{containerPort: 9100}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent-ui, namespace: ops}
spec:
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: agent, namespace: ops}
spec:
  podSelector: {matchLabels: {app: agent}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {app: prometheus}}}]}]
"""


def test_policy_selecting_host_network_pods() -> None:
    [finding] = run(RULE, TEXT)
    assert finding.severity == WARNING and finding.fix is None
    assert finding.affected == ["ops/DaemonSet/agent"]
    assert "DaemonSet/agent" in finding.message and "node firewall" in finding.message
    assert "Deployment/agent-ui" not in finding.message


def test_other_namespace_or_labels_do_not_count() -> None:
    assert run(RULE, TEXT.replace("{name: agent, namespace: ops}\nspec:\n  podSelector",
                                  "{name: agent, namespace: web}\nspec:\n  podSelector")) == []
    assert run(RULE, TEXT.replace("hostNetwork: true", "hostNetwork: false")) == []


def test_suppressed_by_annotation() -> None:
    text = TEXT.replace("metadata: {name: agent, namespace: ops}\nspec:\n  podSelector",
                        "metadata: {name: agent, namespace: ops, annotations: "
                        "{netpol-fix.io/ignore: host-network-pod}}\nspec:\n  podSelector")
    assert run(RULE, text) == []


def test_corpus_kube_prometheus_node_exporter(corpus: Path) -> None:
    ctx = Context(load_inventory([str(corpus / "kube-prometheus")]), Settings())
    [finding] = RULE.check(ctx)
    assert finding.object.namespace == "monitoring" and finding.object.name == "node-exporter"
    assert finding.affected == ["monitoring/DaemonSet/node-exporter"]
    assert "ingress and egress" in finding.message


def test_cli(tmp_path: Path) -> None:
    result, out = scan_json(tmp_path, TEXT, "--select", "host-network-pod")
    assert result.exit_code == 1
    assert [f["rule"] for f in out["findings"]] == ["host-network-pod"]
