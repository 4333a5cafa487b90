"""The admin tiers against a real API server (apiextensions-apiserver + etcd of
scripts/test-cluster): the network-policy-api CRDs as released (release-0.1 standard
AdminNetworkPolicy and BaselineAdminNetworkPolicy, main's ClusterNetworkPolicy), installed
from tests/corpus, with their real schemas and CEL validations.

The server has no core API, so workloads and namespaces come from files and policies from
the cluster (`SOURCES --cluster`). The admin kinds are cluster-scoped and the BANP is a
singleton (`default`), so every test deletes what it created, and ANPs get distinct
priorities (equal priorities are an input error).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml
from click.testing import CliRunner, Result
from kubernetes import client as k8s

from netpol_fix.cli import main
from tests.corpus_path import corpus_path

pytestmark = pytest.mark.cluster

CRD_FILES = (
    "release-0.1/config/crd/standard/policy.networking.k8s.io_adminnetworkpolicies.yaml",
    "release-0.1/config/crd/standard/policy.networking.k8s.io_baselineadminnetworkpolicies.yaml",
    "main/config/crd/standard/policy.networking.k8s.io_clusternetworkpolicies.yaml",
)
GROUP = "policy.networking.k8s.io"
PLURALS = {"AdminNetworkPolicy": ("v1alpha1", "adminnetworkpolicies"),
           "BaselineAdminNetworkPolicy": ("v1alpha1", "baselineadminnetworkpolicies"),
           "ClusterNetworkPolicy": ("v1alpha2", "clusternetworkpolicies")}
WAIT = 60.0


def _crds() -> list[dict[str, Any]]:
    base = corpus_path("network-policy-api")
    return [yaml.safe_load((base / f).read_text()) for f in CRD_FILES]


def _wait(check: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _established(ext: k8s.ApiextensionsV1Api, name: str) -> bool:
    try:
        crd = ext.read_custom_resource_definition(name)
    except k8s.ApiException as err:
        if err.status == 404:
            return False
        raise
    return any(c.type == "Established" and c.status == "True"
               for c in (crd.status.conditions or []))


def _gone(ext: k8s.ApiextensionsV1Api, name: str) -> bool:
    try:
        ext.read_custom_resource_definition(name)
    except k8s.ApiException as err:
        if err.status == 404:
            return True
        raise
    return False


def remove_crds(api_client: k8s.ApiClient) -> None:
    ext = k8s.ApiextensionsV1Api(api_client)
    for crd in _crds():
        name = crd["metadata"]["name"]
        try:
            ext.delete_custom_resource_definition(name)
        except k8s.ApiException as err:
            if err.status != 404:
                raise
        _wait(lambda name=name: _gone(ext, name), f"CRD {name} to be deleted")


def install_crds(api_client: k8s.ApiClient) -> None:
    """Create the CRDs and wait for `Established` (right after creation the server answers
    500 "error resolving resource")."""
    ext = k8s.ApiextensionsV1Api(api_client)
    for crd in _crds():
        try:
            ext.create_custom_resource_definition(crd, _preload_content=False)
        except k8s.ApiException as err:
            if err.status != 409:
                raise
    for crd in _crds():
        name = crd["metadata"]["name"]
        _wait(lambda name=name: _established(ext, name), f"CRD {name} to be Established")
    discovery = k8s.CustomObjectsApi(api_client)

    def listable() -> bool:
        try:
            for version, plural in PLURALS.values():
                discovery.list_cluster_custom_object(GROUP, version, plural)
        except k8s.ApiException:
            return False
        return True

    _wait(listable, "the admin kinds to be listable")


@pytest.fixture(scope="module")
def admin_crds(cluster_client: k8s.ApiClient) -> Iterator[None]:
    """The CRDs for this module's tests; removed at the end, so the server is left as
    scripts/test-cluster made it (and the no-CRD test holds for every later session)."""
    install_crds(cluster_client)
    yield
    remove_crds(cluster_client)


class Admin:
    """Cluster-scoped admin objects created by one test, deleted when it ends."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self.api = k8s.CustomObjectsApi(api_client)
        self.created: list[tuple[str, str]] = []

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        version, plural = PLURALS[obj["kind"]]
        self.delete(obj["kind"], obj["metadata"]["name"])  # a leftover of an aborted run
        stored = self.api.create_cluster_custom_object(GROUP, version, plural, obj)
        self.created.append((obj["kind"], obj["metadata"]["name"]))
        return stored

    def get(self, kind: str, name: str) -> dict[str, Any]:
        version, plural = PLURALS[kind]
        return self.api.get_cluster_custom_object(GROUP, version, plural, name)

    def patch(self, kind: str, name: str, operations: list[dict[str, Any]]) -> None:
        version, plural = PLURALS[kind]
        self.api.patch_cluster_custom_object(GROUP, version, plural, name, operations,
                                             _content_type="application/json-patch+json")

    def delete(self, kind: str, name: str) -> None:
        version, plural = PLURALS[kind]
        try:
            self.api.delete_cluster_custom_object(GROUP, version, plural, name)
        except k8s.ApiException as err:
            if err.status != 404:
                raise


@pytest.fixture
def admin(admin_crds: None, cluster_client: k8s.ApiClient) -> Iterator[Admin]:
    objects = Admin(cluster_client)
    yield objects
    for kind, name in objects.created:
        objects.delete(kind, name)


def workloads(namespace: str) -> list[dict[str, Any]]:
    """What the server cannot hold (no core API): the namespaces, the web and client
    Deployments and cluster DNS, as a repository holds them."""
    def deployment(name: str, ns: str, labels: dict[str, str],
                   ports: list[dict[str, Any]]) -> dict[str, Any]:
        return {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels},
                                      "spec": {"containers": [{"name": name, "image": "app:1",
                                                               "ports": ports}]}}}}

    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": namespace, "labels": {"kubernetes.io/metadata.name": namespace}}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": "kube-system", "labels": {"kubernetes.io/metadata.name": "kube-system"}}},
        deployment("web", namespace, {"app": "web"}, [{"containerPort": 8080}]),
        deployment("client", namespace, {"app": "client"}, []),
        deployment("coredns", "kube-system", {"k8s-app": "kube-dns"},
                   [{"containerPort": 53, "protocol": "UDP"},
                    {"containerPort": 53, "protocol": "TCP"}]),
    ]


def allow_client_to_web(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "web-from-client", "namespace": namespace},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                     "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                                  "ports": [{"protocol": "TCP", "port": 8080}]}]}}


def its_namespace(namespace: str) -> dict[str, Any]:
    return {"matchLabels": {"kubernetes.io/metadata.name": namespace}}


def anp_deny_client(namespace: str, priority: int) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1alpha1", "kind": "AdminNetworkPolicy",
            "metadata": {"name": f"no-client-{namespace}"},
            "spec": {"priority": priority,
                     "subject": {"pods": {"namespaceSelector": its_namespace(namespace),
                                          "podSelector": {"matchLabels": {"app": "web"}}}},
                     "ingress": [{"name": "deny-client", "action": "Deny",
                                  "from": [{"pods": {"namespaceSelector": {},
                                                     "podSelector": {"matchLabels":
                                                                     {"app": "client"}}}}]}]}}


def deny_all_egress(kind: str, namespace: str) -> dict[str, Any]:
    """A default deny of the namespace's egress in each admin kind, DNS included."""
    spec: dict[str, Any] = {"subject": {"namespaces": its_namespace(namespace)},
                            "egress": [{"name": "default-deny", "action": "Deny",
                                        "to": [{"namespaces": {}}]}]}
    if kind == "AdminNetworkPolicy":
        name, api = f"egress-{namespace}", f"{GROUP}/v1alpha1"
        spec["priority"] = 20
    elif kind == "ClusterNetworkPolicy":
        name, api = f"egress-{namespace}", f"{GROUP}/v1alpha2"
        spec.update(tier="Baseline", priority=20)
    else:
        name, api = "default", f"{GROUP}/v1alpha1"
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name}, "spec": spec}


def write(tmp_path: Path, docs: list[dict[str, Any]], name: str = "repo.yaml") -> Path:
    folder = tmp_path / "repo"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(yaml.safe_dump_all(docs))
    return folder


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_without_the_crds_the_cluster_is_read_as_before(
        cluster_client: k8s.ApiClient, cluster_kubeconfig: Path, namespace: str,
        tmp_path: Path) -> None:
    """Runs before the module installs the CRDs (and removes any left over): the group is
    not served, nothing is said about it and the NetworkPolicy analysis is unchanged."""
    remove_crds(cluster_client)
    repo = write(tmp_path, workloads(namespace))
    k8s.CustomObjectsApi(cluster_client).create_namespaced_custom_object(
        "networking.k8s.io", "v1", namespace, "networkpolicies", allow_client_to_web(namespace))
    result = run("explain", str(repo), "--cluster", "--kubeconfig", str(cluster_kubeconfig),
                 "-n", namespace, "--from", "client", "--to", "web", "--port", "8080")
    assert result.exit_code == 0, result.output
    assert "policy.networking.k8s.io" not in result.stderr
    assert "UNCERTAIN" not in result.stdout and "ANP" not in result.stdout


def test_explain_shows_the_cluster_anp_deny_before_the_allowing_networkpolicy(
        admin: Admin, cluster_client: k8s.ApiClient, cluster_kubeconfig: Path,
        namespace: str, tmp_path: Path) -> None:
    """ "AdminNetworkPolicy ... rules ... are evaluated before NetworkPolicy"; a Deny
    "cannot be overridden": the NetworkPolicy's allow is not reached."""
    repo = write(tmp_path, workloads(namespace))
    k8s.CustomObjectsApi(cluster_client).create_namespaced_custom_object(
        "networking.k8s.io", "v1", namespace, "networkpolicies", allow_client_to_web(namespace))
    admin.create(anp_deny_client(namespace, 11))
    result = run("explain", str(repo), "--cluster", "--kubeconfig", str(cluster_kubeconfig),
                 "-n", namespace, "--from", "client", "--to", "web", "--port", "8080")
    assert result.exit_code == 1, result.output
    assert (f"chain: [ANP no-client-{namespace}, priority 11] Deny -> not reached: "
            "NetworkPolicy") in result.stdout
    data = json.loads(run("explain", str(repo), "--cluster", "--kubeconfig",
                          str(cluster_kubeconfig), "-n", namespace, "--from", "client",
                          "--to", "web", "--port", "8080", "-o", "json").stdout)
    assert data["ingress"]["tiers"][0]["decision"] == "Deny"
    assert data["uncertain"] == []


def test_scan_finds_the_overridden_allow_and_the_baseline_default_deny_without_dns(
        admin: Admin, cluster_client: k8s.ApiClient, cluster_kubeconfig: Path,
        namespace: str, tmp_path: Path) -> None:
    repo = write(tmp_path, workloads(namespace))
    k8s.CustomObjectsApi(cluster_client).create_namespaced_custom_object(
        "networking.k8s.io", "v1", namespace, "networkpolicies", allow_client_to_web(namespace))
    admin.create(anp_deny_client(namespace, 12))
    admin.create(deny_all_egress("BaselineAdminNetworkPolicy", namespace))
    result = run("scan", str(repo), "--cluster", "--kubeconfig", str(cluster_kubeconfig),
                 "-n", namespace, "-o", "json")
    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)["findings"]
    found = {(f["rule"], f["object"]["kind"], f["object"]["name"]) for f in findings}
    assert ("tier-overrides-allow", "NetworkPolicy", "web-from-client") in found
    assert ("missing-dns-egress", "BaselineAdminNetworkPolicy", "default") in found
    overridden = next(f for f in findings if f["rule"] == "tier-overrides-allow")
    assert f"AdminNetworkPolicy no-client-{namespace} denies first" in overridden["message"]


@pytest.mark.parametrize("kind", ["BaselineAdminNetworkPolicy", "AdminNetworkPolicy",
                                  "ClusterNetworkPolicy"])
def test_the_tier_dns_fix_is_applied_once_and_read_back(
        kind: str, admin: Admin, cluster_kubeconfig: Path, namespace: str,
        tmp_path: Path) -> None:
    """The repository holds the admin policy too (its desired state): `fix --format
    json-patch` plans the Allow inserted first; `apply` dry-runs it (nothing stored), writes
    it behind the resourceVersion test with a backup, and a rerun finds it applied. The
    server's own schema (and CEL rules) accept what the fix writes."""
    policy = deny_all_egress(kind, namespace)
    name = policy["metadata"]["name"]
    repo = write(tmp_path, [*workloads(namespace), policy])
    created = admin.create(policy)
    planned = run("fix", "--dry-run", "--format", "json-patch", "--select",
                  "missing-dns-egress", str(repo))
    assert planned.exit_code == 1, planned.output
    (entry,) = json.loads(planned.stdout)
    assert entry["object"]["kind"] == kind and entry["object"]["namespace"] is None
    assert entry["operations"][-1]["path"] == "/spec/egress/0"
    patches = tmp_path / "fixes.json"
    patches.write_text(planned.stdout)
    base = ("apply", "--patches", str(patches), "--kubeconfig", str(cluster_kubeconfig))
    dry = run(*base, "--dry-run")
    assert dry.exit_code == 1 and f"would apply: {kind} {name}" in dry.stdout, dry.output
    assert admin.get(kind, name) == created
    backup = tmp_path / "backup"
    done = run(*base, "--yes", "--backup", str(backup))
    assert done.exit_code == 0, done.output
    assert f"applied: {kind} {name} [missing-dns-egress]: add /spec/egress/0" in done.stdout
    stored = admin.get(kind, name)
    assert stored["spec"] == jsonpatch.apply_patch(created, entry["operations"])["spec"]
    assert [r["name"] for r in stored["spec"]["egress"]] == ["allow-dns", "default-deny"]
    saved = yaml.safe_load((backup / f"{kind.lower()}.{name}.yaml").read_text())
    assert saved["spec"] == created["spec"] and set(saved["metadata"]) == {"name"}
    again = run(*base, "--yes")
    assert again.exit_code == 0 and f"already applied: {kind} {name}" in again.stdout, \
        again.output
    assert admin.get(kind, name) == stored


def test_a_tier_fix_whose_subject_changed_is_refused(
        admin: Admin, cluster_kubeconfig: Path, namespace: str, tmp_path: Path) -> None:
    """The fix opened DNS for the pods the BANP selected when it was planned; if the live
    BANP selects others, its effect is unknown: refused, the object untouched."""
    policy = deny_all_egress("BaselineAdminNetworkPolicy", namespace)
    repo = write(tmp_path, [*workloads(namespace), policy])
    admin.create(policy)
    planned = run("fix", "--dry-run", "--format", "json-patch", "--select",
                  "missing-dns-egress", str(repo))
    patches = tmp_path / "fixes.json"
    patches.write_text(planned.stdout)
    admin.patch("BaselineAdminNetworkPolicy", "default", [
        {"op": "replace", "path": "/spec/subject", "value": {"namespaces": {}}}])
    changed = admin.get("BaselineAdminNetworkPolicy", "default")
    result = run("apply", "--patches", str(patches), "--kubeconfig", str(cluster_kubeconfig),
                 "--yes")
    assert result.exit_code == 1
    assert ("refused: BaselineAdminNetworkPolicy default [missing-dns-egress]: object "
            "changed since the fix was planned: test at /spec/subject") in result.stdout
    assert admin.get("BaselineAdminNetworkPolicy", "default") == changed
