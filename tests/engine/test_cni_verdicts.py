"""What each CNI enforces, in explain, connectivity and scan (engine/cni.py; issue 13).

Each test names the sentence of the CNI's documentation or source it follows.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.engine.cni import cni_model
from netpol_fix.engine.network import Network
from netpol_fix.inventory.load import load_inventory

PODS = """\
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: x, labels: {app: client}}
spec: {containers: [{name: c, image: busybox}]}
status: {podIP: 10.8.0.5}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: y, labels: {app: server}}
spec: {containers: [{name: s, image: nginx, ports: [{containerPort: 80}]}]}
status: {podIP: 10.8.1.7}
"""


def egress_to(block: str) -> str:
    return PODS + f"""\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: client-egress, namespace: x}}
spec:
  podSelector: {{matchLabels: {{app: client}}}}
  policyTypes: [Egress]
  egress:
  - to: [{{ipBlock: {block}}}]
"""


def explain(tmp_path: Path, text: str, *args: str) -> tuple[int, str]:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["explain", str(path), "--from", "x/client", "--to",
                                       "y/server", "--port", "80", *args])
    return result.exit_code, result.output


def test_upstream_ip_block_with_the_pod_ip_admits_the_pod(tmp_path: Path) -> None:
    """Kubernetes e2e (test/e2e/network/netpol/network_policy.go) "should allow egress
    access to server in CIDR block": an egress ipBlock of the server pod's IP /32 admits
    that pod; netpol-analyzer's model (ipBlocks never match pods) says the opposite."""
    code, out = explain(tmp_path, egress_to("{cidr: 10.8.1.7/32}"))
    assert code == 0 and "ALLOWED" in out.splitlines()[0]
    code, out = explain(tmp_path, egress_to("{cidr: 10.8.1.7/32}"),
                        "--ipblocks-never-match-pods")
    assert code == 1 and "netpol-analyzer's model" in out


def test_upstream_wide_cidr_with_except_admits_the_pod_outside_the_except(
        tmp_path: Path) -> None:
    """Kubernetes e2e "should enforce except clause while egress access to server in CIDR
    block": a wide CIDR admits the pod, unless an `except` holds its IP."""
    code, _ = explain(tmp_path, egress_to("{cidr: 10.8.0.0/16, except: [10.8.2.0/24]}"))
    assert code == 0
    code, out = explain(tmp_path, egress_to("{cidr: 10.8.0.0/16, except: [10.8.1.0/24]}"))
    assert code == 1 and "does not hold the pod y/server[Pod] (10.8.1.7)" in out


def test_ip_block_without_a_known_address_needs_the_pod_cidr(tmp_path: Path) -> None:
    text = egress_to("{cidr: 10.8.0.0/16}").replace("status: {podIP: 10.8.1.7}\n", "")
    code, out = explain(tmp_path, text)
    assert code == 1 and "give --pod-cidr" in out
    code, _ = explain(tmp_path, text, "--pod-cidr", "10.8.0.0/16")
    assert code == 0


def test_cilium_ip_blocks_never_match_pods(tmp_path: Path) -> None:
    """Cilium docs, Layer 3 policies: "CIDR rules do not apply to traffic where both sides
    of the connection are either managed by Cilium or use an IP belonging to a node in the
    cluster (including host networking pods)" (cilium/cilium#19601)."""
    code, out = explain(tmp_path, egress_to("{cidr: 10.8.1.7/32}"), "--cni", "cilium")
    assert code == 1 and "under Cilium an ipBlock never matches the pod" in out


def test_flannel_enforces_nothing_and_says_so_first(tmp_path: Path) -> None:
    """flannel-io/flannel README: "Flannel is focused on networking. For network policy,
    other projects such as Calico can be used": no policy is enforced."""
    deny = PODS + """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"""
    code, out = explain(tmp_path, deny, "--cni", "flannel")
    assert code == 0
    lines = out.splitlines()
    assert "ALLOWED" in lines[0] and lines[2].startswith("0. the CNI is flannel")
    assert "DNS" not in out.split("Verdict")[1]  # no lookup denied either
    egress_only = deny + """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: x}
spec:
  podSelector: {matchLabels: {app: client}}
  egress: [{to: [{podSelector: {matchLabels: {app: nobody}}}]}]
"""
    (tmp_path / "m.yaml").write_text(egress_only)
    scan = CliRunner().invoke(main, ["scan", str(tmp_path / "m.yaml"), "--cni", "flannel",
                                     "--format", "json"])
    # no rule claims a drop that Flannel does not make (no DNS time-out, no ingress denied
    # by the egress-only policy): only the finding that nothing is enforced
    assert {f["rule"] for f in json.loads(scan.stdout)["findings"]} == {"cni-no-enforcement"}
    calico = CliRunner().invoke(main, ["scan", str(tmp_path / "m.yaml"), "--format", "json"])
    assert "missing-dns-egress" in {f["rule"] for f in json.loads(calico.stdout)["findings"]}
    connectivity = CliRunner().invoke(main, ["connectivity", str(tmp_path / "m.yaml"),
                                             "--cni", "flannel"])
    assert "x/client[Pod] => y/server[Pod] : All Connections" in connectivity.stdout
    assert "enforces no NetworkPolicy" in connectivity.stderr


def test_aws_vpc_cni_denies_ports_past_the_24th_entry(tmp_path: Path) -> None:
    """aws/aws-network-policy-agent pkg/utils/utils.go ComputeTrieValue: entries are written
    in order until TRIE_VALUE_LENGTH (288 bytes, 24 entries) and the rest are dropped with
    "No.of unique port/protocol combinations supported for a single endpoint exceeded the
    supported maximum of 24": scan reports the rule, explain denies the 25th port."""
    ports = json.dumps([{"port": 50040 + i} for i in range(30)])
    text = PODS.replace("containerPort: 80", "containerPort: 50064") + f"""\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: server-ingress, namespace: y}}
spec:
  podSelector: {{matchLabels: {{app: server}}}}
  ingress:
  - ports: {ports}
"""
    path = tmp_path / "m.yaml"
    path.write_text(text)

    def ask(port: int, cni: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["explain", str(path), "--from", "x/client", "--to",
                                           "y/server", "--port", str(port), "--cni", cni])
        return result.exit_code, result.output

    assert ask(50064, "calico")[0] == 0  # the 25th entry
    code, out = ask(50064, "aws-vpc-cni")
    assert code == 1 and "aws-vpc-cni-port-limit" in out and "past the first 24" in out
    assert ask(50063, "aws-vpc-cni")[0] == 0  # the 24th entry is still written
    scan = CliRunner().invoke(main, ["scan", str(path), "--cni", "aws-vpc-cni"])
    assert "aws-vpc-cni-port-limit" in scan.output


def test_host_network_endpoint_is_its_node_address(tmp_path: Path) -> None:
    """Kubernetes docs, Network Policies: hostNetwork pods are seen with their node's
    address; an ipBlock holding the node CIDR admits them, a pod selector never does."""
    text = PODS.replace("spec: {containers: [{name: s,",
                        "spec: {hostNetwork: true, containers: [{name: s,"
                        ).replace("status: {podIP: 10.8.1.7}\n", "") + """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: x}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 192.168.0.0/16}}]
"""
    code, out = explain(tmp_path, text)
    assert code == 1 and "give --node-cidr" in out
    code, _ = explain(tmp_path, text, "--node-cidr", "192.168.10.0/24")
    assert code == 0
    code, out = explain(tmp_path, text, "--node-cidr", "192.168.10.0/24", "--cni", "cilium")
    assert code == 1


def test_network_model_options() -> None:
    assert not cni_model("cilium").ip_aware and cni_model("calico").ip_aware
    assert not cni_model("calico", analyzer=True).ip_aware
    assert not cni_model("flannel").enforces
    assert cni_model("aws-vpc-cni").port_entry_limit == 24
    assert Network(load_inventory([])).cni.name == "unknown"


def test_cilium_icmp_fix_writes_icmps_policies_on_both_sides(tmp_path: Path) -> None:
    """Cilium policy language: "If any layer 4 policy is specified, then ICMP will be blocked
    unless it's related to a connection that is otherwise allowed"; only a
    CiliumNetworkPolicy `icmps` rule admits ping (as rules/cilium_icmp_denied.py writes)."""
    text = PODS + """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: x}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{ports: [{port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-ingress, namespace: y}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress: [{ports: [{port: 80}]}]
"""
    path = tmp_path / "m.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["explain", str(path), "--from", "x/client", "--to",
                                       "y/server", "--protocol", "ICMP", "--cni", "cilium",
                                       "--fix"])
    assert result.exit_code == 1, result.output
    out = result.output
    assert out.count("+kind: CiliumNetworkPolicy") == 2
    assert "server-allow-icmp-ingress" in out and "client-allow-icmp-egress" in out
    assert "icmps:" in out and "type: 8" in out and "TCP 1-" not in out


def test_cilium_address_of_a_node_is_no_outside_address(tmp_path: Path) -> None:
    """Cilium docs, Layer 3 policies: CIDR rules do not apply to "an IP belonging to a node
    in the cluster": ingress from a node address through an ipBlock is denied under Cilium,
    admitted elsewhere."""
    path = tmp_path / "m.yaml"
    path.write_text(PODS + """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-ingress, namespace: y}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress: [{from: [{ipBlock: {cidr: 192.168.0.0/16}}]}]
""")

    def ask(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["explain", str(path), "--from", "192.168.10.4",
                                           "--to", "y/server", "--port", "80",
                                           "--node-cidr", "192.168.10.0/24", *args])
        return result.exit_code, result.output

    assert ask()[0] == 0
    code, out = ask("--cni", "cilium")
    assert code == 1 and "inside the cluster's node CIDR 192.168.10.0/24" in out
