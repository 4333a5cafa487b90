"""The commands with --cluster: findings on cluster-only objects, files merged over the
cluster, the CNI in the output, --cni auto, and failures without tracebacks."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from netpol_fix.cli import main
from tests.cluster import manifests as m
from tests.cluster.fakeapi import FakeApi, write_kubeconfig


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_scan_cluster_only_default_deny_finds_missing_dns_egress(
        fake: FakeApi, kubeconfig: str) -> None:
    fake.add_all(m.shop_cluster())
    code, out, err = run("scan", "--cluster", "--kubeconfig", kubeconfig, "-A",
                         "--format", "json")
    assert code == 1, err
    data = json.loads(out)
    dns = [f for f in data["findings"] if f["rule"] == "missing-dns-egress"]
    assert len(dns) == 1
    assert dns[0]["object"] == {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                "namespace": "shop", "name": "default-deny"}
    assert dns[0]["location"] is None
    assert data["cni"]["name"] == "cilium" and data["cni"]["networkPolicyEnforced"] is True
    assert "DaemonSet kube-system/cilium" in data["cni"]["reason"]
    assert data["errors"] == []
    assert "note: read cluster" in err  # notes go to stderr beside JSON


def test_scan_text_starts_with_the_cni_note(fake: FakeApi, kubeconfig: str) -> None:
    fake.add_all(m.shop_cluster())
    code, out, _ = run("scan", "--cluster", "--kubeconfig", kubeconfig, "-n", "shop")
    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith("note: CNI cilium: Cilium: DaemonSet kube-system/cilium")
    assert lines[1].startswith("note: read cluster http://127.0.0.1:")
    assert "(in namespace shop)" in lines[1]
    assert any(line.startswith("<cluster> NetworkPolicy shop/default-deny: error"
                               "[missing-dns-egress]") for line in lines)


def test_cni_auto_takes_the_detected_cilium_so_cilium_rules_run(
        fake: FakeApi, kubeconfig: str) -> None:
    fake.add_all(m.shop_cluster() + [m.WEB_L4_INGRESS])
    args = ("scan", "--cluster", "--kubeconfig", kubeconfig, "-A", "--format", "json",
            "--select", "cilium-icmp-denied")
    _, out, _ = run(*args)
    assert [f["object"]["name"] for f in json.loads(out)["findings"]] == ["web"]
    _, out, _ = run(*args, "--cni", "calico")
    data = json.loads(out)
    assert data["findings"] == []
    assert data["cni"]["name"] == "calico" and "looks like cilium" in data["cni"]["reason"]


def test_cluster_and_files_merge_with_the_file_copy_winning(
        fake: FakeApi, kubeconfig: str, tmp_path: Path) -> None:
    fake.add_all(m.shop_cluster())
    (tmp_path / "netpol.yaml").write_text(yaml.safe_dump(m.DNS_ALLOW, sort_keys=False))
    code, out, err = run("scan", str(tmp_path), "--cluster", "--kubeconfig", kubeconfig,
                         "-A", "--format", "json", "--select", "missing-dns-egress")
    assert json.loads(out)["findings"] == [], err  # the file's default-deny allows DNS
    assert code == 0
    assert ("note: 1 object(s) exist both in the files and in the cluster; the files' "
            "copies are analysed (desired state): NetworkPolicy shop/default-deny") in err


def test_files_add_to_the_cluster(fake: FakeApi, kubeconfig: str, tmp_path: Path) -> None:
    fake.add_all([m.namespace("shop"), m.pod("web-1", "shop", {"app": "web"}, "10.0.1.1")])
    (tmp_path / "deny.yaml").write_text(yaml.safe_dump(m.DEFAULT_DENY))
    code, out, _ = run("scan", str(tmp_path), "--cluster", "--kubeconfig", kubeconfig, "-A",
                       "--format", "json")
    finding = json.loads(out)["findings"][0]
    assert code == 1 and finding["rule"] == "missing-dns-egress"
    assert finding["location"]["file"].endswith("deny.yaml")
    assert finding["affected"] == ["shop/Pod/web-1"]


def test_forbidden_pods_warns_and_the_analysis_goes_on(fake: FakeApi, kubeconfig: str) -> None:
    fake.add_all(m.shop_cluster())
    fake.forbidden = {"pods"}
    code, out, err = run("scan", "--cluster", "--kubeconfig", kubeconfig, "-A",
                         "--format", "json")
    assert code == 1  # findings; a warning does not make it 2
    data = json.loads(out)
    assert [f["rule"] for f in data["findings"]].count("missing-dns-egress") == 1
    assert data["errors"][0]["severity"] == "warning"
    assert "<cluster>: warning: cannot list pods in all namespaces: forbidden" in err


def test_fix_with_cluster_edits_files_only_and_points_to_apply(
        fake: FakeApi, kubeconfig: str) -> None:
    fake.add_all(m.shop_cluster())
    code, out, err = run("fix", "--cluster", "--kubeconfig", kubeconfig, "-A", "--dry-run")
    assert out == ""  # nothing to edit: every object is the cluster's
    assert "apply with `netpol-fix apply --cluster`" in err
    assert "[missing-dns-egress] NetworkPolicy shop/default-deny" in err
    assert code == 0


def test_explain_and_connectivity_read_the_cluster(fake: FakeApi, kubeconfig: str) -> None:
    fake.add_all(m.shop_cluster())
    # pods group under their controller as the API names it: the ReplicaSet
    code, out, _ = run("explain", "--cluster", "--kubeconfig", kubeconfig, "-A",
                       "--from", "shop/client-5d4b", "--to", "shop/web-7c9f8d-abcde",
                       "--port", "8080")
    assert code == 1 and "DENIED" in out
    code, out, _ = run("connectivity", "--cluster", "--kubeconfig", kubeconfig, "-A")
    assert code == 0
    lines = out.splitlines()
    assert "0.0.0.0-255.255.255.255[External] => kube-system/coredns-76f75df574[ReplicaSet] " \
        ": All Connections" in lines
    assert not any(line.startswith("shop/") for line in lines)  # default-deny egress


def test_cluster_options_without_cluster_are_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("scan", str(tmp_path), "-n", "shop")
    assert code == 2 and "add --cluster" in err
    code, _, err = run("scan")
    assert code == 2 and "no --cluster" in err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_cluster_exits_2_with_one_line_and_no_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    server = f"http://127.0.0.1:{free_port()}"
    path = write_kubeconfig(tmp_path / "kc", server)
    proc = subprocess.run([sys.executable, "-m", "netpol_fix", "scan", "--cluster",
                           "--kubeconfig", str(path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: cannot reach {server}: ")
    assert "Connection refused" in lines[0] and "Traceback" not in proc.stderr


def test_diff_repository_against_the_cluster_shows_drift(
        fake: FakeApi, kubeconfig: str, tmp_path: Path) -> None:
    objects = m.shop_cluster()
    fake.add_all(objects)
    desired = [o for o in objects if o["kind"] in ("Namespace", "Pod", "Service")]
    (tmp_path / "repo.yaml").write_text(yaml.safe_dump_all(desired))
    code, out, err = run("diff", str(tmp_path), "--cluster", "--kubeconfig", kubeconfig, "-A",
                         "--format", "json")
    assert code == 1, err
    text = json.dumps(json.loads(out))
    assert "default-deny" in text  # the policy only the cluster has is named as the cause
    same, _, _ = run("diff", str(tmp_path), "--cluster", "--kubeconfig", kubeconfig, "-A",
                     "--fail-on", "added")
    assert same == 0  # the drift only removes connections
    usage, _, err = run("diff", str(tmp_path), str(tmp_path), "--cluster",
                        "--kubeconfig", kubeconfig)
    assert usage == 2 and "not both" in err


GATEWAY_FROM_SHOP = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "gateway", "namespace": "payments"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
             "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"name": "shop"}}}]}]},
}


def test_apply_cluster_plans_from_the_cluster_and_patches_live_objects(
        fake: FakeApi, kubeconfig: str) -> None:
    """apply --cluster: the fixes come from the cluster itself (here: label the live
    Namespace the selector names, and add DNS egress to the default-deny), dry-run first,
    then written behind the resourceVersion test; a second run finds nothing to do."""
    fake.add_all(m.shop_cluster() + [m.namespace("payments"), GATEWAY_FROM_SHOP])
    base = ("apply", "--cluster", "--kubeconfig", kubeconfig, "-A",
            "--select", "namespace-selector-unmatched,missing-dns-egress")
    code, out, err = run(*base, "--dry-run")
    assert code == 1, err  # changes would be made
    assert fake.patches == []
    code, out, err = run(*base, "--yes")
    assert code == 0, (out, err)
    paths = sorted(path for path, _ in fake.patches)
    assert paths == ["/api/v1/namespaces/shop",
                     "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/default-deny"]
    for _path, operations in fake.patches:
        assert operations[0]["op"] == "test" and operations[0]["path"] == \
            "/metadata/resourceVersion"
    shop = next(n for n in fake.objects[("", "v1", "namespaces")]
                if n["metadata"]["name"] == "shop")
    assert shop["metadata"]["labels"]["name"] == "shop"
    code, _, err = run(*base, "--yes")
    assert code == 0 and "nothing to apply" in err
    assert len(fake.patches) == 2


def test_apply_needs_patches_or_cluster(kubeconfig: str) -> None:
    code, _, err = run("apply", "--kubeconfig", kubeconfig, "--yes")
    assert code == 2 and "--patches FILE" in err
