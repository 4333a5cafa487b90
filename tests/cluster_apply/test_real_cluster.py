"""`netpol-fix apply` against a real API server (apiextensions-apiserver + etcd, started by
scripts/test-cluster through the `cluster_kubeconfig` session fixture).

NetworkPolicy and CiliumNetworkPolicy are CRDs there with real schemas, so patches go through
the genuine JSON-patch, dry-run, validation, defaulting and resourceVersion machinery. The
patches are the real output of `netpol-fix fix --dry-run --format json-patch` on
examples/shop/netpol.yaml, moved to a fresh namespace per test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml
from click.testing import CliRunner, Result
from kubernetes import client as k8s

from netpol_fix.cli import main
from tests.cluster_apply.conftest import write_after_each_read

pytestmark = pytest.mark.cluster

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop" / "netpol.yaml"
NP = ("networking.k8s.io", "v1", "networkpolicies")
CNP = ("cilium.io", "v2", "ciliumnetworkpolicies")


class Cluster:
    """The test's view of the server: create and read objects as plain dicts."""

    def __init__(self, api_client: k8s.ApiClient, namespace: str) -> None:
        self.api = k8s.CustomObjectsApi(api_client)
        self.namespace = namespace

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        group, version, plural = CNP if obj["kind"] == "CiliumNetworkPolicy" else NP
        return self.api.create_namespaced_custom_object(group, version, self.namespace,
                                                        plural, obj)

    def get(self, name: str, kind: tuple[str, str, str] = NP) -> dict[str, Any]:
        return self.api.get_namespaced_custom_object(*kind[:2], self.namespace, kind[2], name)

    def patch(self, name: str, operations: list[dict[str, Any]]) -> dict[str, Any]:
        return self.api.patch_namespaced_custom_object(
            *NP[:2], self.namespace, NP[2], name, operations,
            _content_type="application/json-patch+json")

    def delete(self, name: str) -> None:
        self.api.delete_namespaced_custom_object(*NP[:2], self.namespace, NP[2], name)


@pytest.fixture
def shop(cluster_client: k8s.ApiClient, namespace: str, tmp_path: Path
         ) -> tuple[Cluster, dict[str, dict[str, Any]], Path]:
    """The example policies in a fresh namespace, created on the server; the manifest file
    and the fix's canonical patches planned from it (the file, not the cluster)."""
    docs = [d for d in yaml.safe_load_all(EXAMPLE.read_text().replace("namespace: shop",
                                                                      f"namespace: {namespace}"))
            if d]
    manifest = tmp_path / "netpol.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    cluster = Cluster(cluster_client, namespace)
    created = {d["metadata"]["name"]: cluster.create(d) for d in docs}
    planned = CliRunner().invoke(main, ["fix", "--dry-run", "--format", "json-patch",
                                        "--unsafe-fixes", "--cni", "cilium", str(manifest)])
    assert planned.exit_code == 1, planned.output  # 1: there are changes to make
    (tmp_path / "all.json").write_text(planned.stdout)
    return cluster, created, tmp_path


def patch_file(tmp_path: Path, rule: str, name: str | None = None) -> Path:
    """The entries of one rule (and object), as a reviewer might keep them."""
    entries = [e for e in json.loads((tmp_path / "all.json").read_text())
               if e["rule"] == rule and (name is None or e["object"]["name"] == name)]
    assert entries, f"no {rule} fix for {name}"
    path = tmp_path / f"{rule}-{name}.json"
    path.write_text(json.dumps(entries))
    return path


def entry_ops(path: Path) -> list[dict[str, Any]]:
    (entry,) = json.loads(path.read_text())
    return entry["operations"]


def apply(kubeconfig: Path, patches: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["apply", "--patches", str(patches), "--kubeconfig",
                                     str(kubeconfig), *args])


def test_dry_run_stores_nothing(shop: Any, cluster_kubeconfig: Path) -> None:
    cluster, created, tmp = shop
    result = apply(cluster_kubeconfig, patch_file(tmp, "missing-dns-egress"), "--dry-run")
    assert result.exit_code == 1, result.output  # changes would be made
    assert f"would apply: NetworkPolicy {cluster.namespace}/default-deny" in result.output
    assert cluster.get("default-deny") == created["default-deny"]


def test_apply_stores_exactly_what_the_file_fix_produces(shop: Any, cluster_kubeconfig: Path
                                                         ) -> None:
    cluster, created, tmp = shop
    patches = patch_file(tmp, "missing-dns-egress")
    result = apply(cluster_kubeconfig, patches, "--yes")
    assert result.exit_code == 0, result.output
    assert f"applied: NetworkPolicy {cluster.namespace}/default-deny [missing-dns-egress]: " \
           "add /spec/egress; opens " in result.output
    stored = cluster.get("default-deny")
    expected = jsonpatch.apply_patch(created["default-deny"], entry_ops(patches))
    assert stored["spec"] == expected["spec"]
    assert stored["metadata"]["resourceVersion"] != created["default-deny"]["metadata"][
        "resourceVersion"]
    managers = {m["manager"] for m in stored["metadata"]["managedFields"]}
    assert "netpol-fix" in managers


def test_second_apply_changes_nothing(shop: Any, cluster_kubeconfig: Path) -> None:
    cluster, _created, tmp = shop
    patches = patch_file(tmp, "missing-dns-egress")
    assert apply(cluster_kubeconfig, patches, "--yes").exit_code == 0
    first = cluster.get("default-deny")
    result = apply(cluster_kubeconfig, patches, "--yes")
    assert result.exit_code == 0, result.output
    assert f"already applied: NetworkPolicy {cluster.namespace}/default-deny" in result.output
    assert cluster.get("default-deny") == first


def test_append_to_a_defaulted_array_is_applied_once(shop: Any, cluster_kubeconfig: Path
                                                     ) -> None:
    """one-sided-allow appends to /spec/ingress of a policy whose ports the server defaulted
    (protocol: TCP): the file's `test` must still hold, and a rerun must not append again."""
    cluster, created, tmp = shop
    patches = patch_file(tmp, "one-sided-allow", "api")
    assert created["api"]["spec"]["ingress"][0]["ports"][0]["protocol"] == "TCP"
    result = apply(cluster_kubeconfig, patches, "--yes", "--unsafe-fixes")
    assert result.exit_code == 0, result.output
    stored = cluster.get("api")
    assert len(stored["spec"]["ingress"]) == len(created["api"]["spec"]["ingress"]) + 1
    again = apply(cluster_kubeconfig, patches, "--yes", "--unsafe-fixes")
    assert again.exit_code == 0 and "already applied" in again.output, again.output
    assert cluster.get("api") == stored


def test_concurrent_write_is_caught_by_the_resource_version_test_and_replanned(
        shop: Any, cluster_kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, _created, tmp = shop
    write_after_each_read(monkeypatch, lambda _: cluster.patch("default-deny", [
        {"op": "add", "path": "/metadata/labels", "value": {"owner": "sre"}}]), times=1)
    result = apply(cluster_kubeconfig, patch_file(tmp, "missing-dns-egress"), "--yes")
    assert result.exit_code == 0, result.output
    assert "re-planned after 1 concurrent change(s)" in result.output
    stored = cluster.get("default-deny")
    assert stored["metadata"]["labels"] == {"owner": "sre"}  # the other write survived
    assert stored["spec"]["egress"]  # and the fix is in


def test_stale_resource_version_is_rejected_by_the_real_server(
        shop: Any, cluster_kubeconfig: Path) -> None:
    """The guard itself: a patch carrying an old resourceVersion is refused (422)."""
    cluster, created, _tmp = shop
    cluster.patch("default-deny", [{"op": "add", "path": "/metadata/labels",
                                    "value": {"a": "b"}}])
    stale = created["default-deny"]["metadata"]["resourceVersion"]
    with pytest.raises(k8s.ApiException) as err:
        cluster.patch("default-deny", [
            {"op": "test", "path": "/metadata/resourceVersion", "value": stale},
            {"op": "add", "path": "/metadata/labels/c", "value": "d"}])
    assert err.value.status == 422


def test_fix_whose_test_no_longer_holds_is_refused(shop: Any, cluster_kubeconfig: Path
                                                   ) -> None:
    cluster, _created, tmp = shop
    changed = cluster.patch("default-deny", [
        {"op": "replace", "path": "/spec/podSelector",
         "value": {"matchLabels": {"app": "web"}}}])
    result = apply(cluster_kubeconfig, patch_file(tmp, "missing-dns-egress"), "--yes")
    assert result.exit_code == 1
    assert f"refused: NetworkPolicy {cluster.namespace}/default-deny [missing-dns-egress]: " \
           "object changed since the fix was planned: test at /spec/podSelector" \
           in result.output
    assert cluster.get("default-deny") == changed


def test_backup_restores_the_object(shop: Any, cluster_kubeconfig: Path) -> None:
    cluster, created, tmp = shop
    backup = tmp / "backup"
    result = apply(cluster_kubeconfig, patch_file(tmp, "missing-dns-egress"), "--yes",
                   "--backup", str(backup))
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((backup / f"networkpolicy.{cluster.namespace}.default-deny.yaml")
                           .read_text())
    assert set(saved["metadata"]) == {"name", "namespace"}
    # Restore as `kubectl apply -f` would (kubectl is not installed): the backup carries no
    # resourceVersion or uid, so the server accepts it as the desired state.
    cluster.delete("default-deny")
    restored = cluster.create(saved)
    assert restored["spec"] == created["default-deny"]["spec"]


def test_cilium_policy_is_created_once(shop: Any, cluster_kubeconfig: Path) -> None:
    cluster, _created, tmp = shop
    patches = patch_file(tmp, "cilium-icmp-denied", "web-icmp")
    (entry,) = json.loads(patches.read_text())
    skipped = apply(cluster_kubeconfig, patches, "--yes")
    assert skipped.exit_code == 1 and "skipped" in skipped.output  # unsafe by default
    dry = apply(cluster_kubeconfig, patches, "--yes", "--unsafe-fixes", "--dry-run")
    assert dry.exit_code == 1 and "would apply" in dry.output, dry.output
    with pytest.raises(k8s.ApiException) as err:
        cluster.get("web-icmp", CNP)
    assert err.value.status == 404  # the dry-run created nothing
    result = apply(cluster_kubeconfig, patches, "--yes", "--unsafe-fixes")
    assert result.exit_code == 0, result.output
    assert f"applied: CiliumNetworkPolicy {cluster.namespace}/web-icmp" in result.output
    assert cluster.get("web-icmp", CNP)["spec"] == entry["creates"][0]["spec"]
    again = apply(cluster_kubeconfig, patches, "--yes", "--unsafe-fixes")
    assert again.exit_code == 0 and "already applied" in again.output, again.output


def test_existing_cilium_policy_with_another_spec_is_refused(
        shop: Any, cluster_kubeconfig: Path) -> None:
    cluster, _created, tmp = shop
    patches = patch_file(tmp, "cilium-icmp-denied", "web-icmp")
    (entry,) = json.loads(patches.read_text())
    other = json.loads(json.dumps(entry["creates"][0]))
    other["spec"]["endpointSelector"] = {"matchLabels": {"app": "other"}}
    cluster.create(other)
    result = apply(cluster_kubeconfig, patches, "--yes", "--unsafe-fixes")
    assert result.exit_code == 1
    assert "exists with a different spec" in result.output
    assert cluster.get("web-icmp", CNP)["spec"] == other["spec"]


def test_schema_rejection_is_refused_with_the_server_message(
        shop: Any, cluster_kubeconfig: Path, tmp_path: Path) -> None:
    cluster, _created, _tmp = shop
    bad = [{"rule": "x", "object": {"apiVersion": "networking.k8s.io/v1",
                                    "kind": "NetworkPolicy", "namespace": cluster.namespace,
                                    "name": "default-deny"},
            "operations": [{"op": "add", "path": "/spec/policyTypes/-", "value": "Sideways"}],
            "creates": [], "opens": [], "applicability": "safe"}]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    result = apply(cluster_kubeconfig, path, "--yes")
    assert result.exit_code == 1
    assert "the API server rejected the patch (422" in result.output
    assert "Sideways" in result.output


def test_egress_only_policy_gets_the_intended_policy_types_on_the_real_server(
        cluster_client: k8s.ApiClient, namespace: str, cluster_kubeconfig: Path,
        tmp_path: Path) -> None:
    """Issue 13: the primary fix of an egress-only policy writes [Egress] (unsafe: it
    re-opens ingress); planned from the manifest, its tests (podSelector, egress) hold on
    the server's object, and the server stores exactly [Egress]."""
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "web-egress", "namespace": namespace},
              "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                       "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}],
                                   "ports": [{"port": 5432}]}]}}
    manifest = tmp_path / "web.yaml"
    manifest.write_text(yaml.safe_dump(policy))
    cluster = Cluster(cluster_client, namespace)
    cluster.create(policy)
    planned = CliRunner().invoke(main, ["fix", "--dry-run", "--format", "json-patch",
                                        "--unsafe-fixes", "--select", "policy-types-missing",
                                        str(manifest)])
    assert planned.exit_code == 1, planned.output
    patches = tmp_path / "p.json"
    patches.write_text(planned.stdout)
    assert apply(cluster_kubeconfig, patches, "--yes").exit_code == 1  # unsafe: skipped
    result = apply(cluster_kubeconfig, patches, "--yes", "--unsafe-fixes")
    assert result.exit_code == 0, result.output
    assert cluster.get("web-egress")["spec"]["policyTypes"] == ["Egress"]
