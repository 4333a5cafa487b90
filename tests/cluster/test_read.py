"""read_cluster against the fake API server: paging, 410 restarts, permissions, scope."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest

from netpol_fix.cluster import read as cluster
from netpol_fix.cluster.kubeconfig import ClusterUnreachable, client_configuration, use_in_cluster
from netpol_fix.cluster.read import read_cluster
from tests.cluster import manifests as m
from tests.cluster.fakeapi import FakeApi, write_kubeconfig


def kinds(read: cluster.ClusterRead) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for source in read.objects:
        found.setdefault(source.obj["kind"], []).append(source.obj["metadata"]["name"])
    return found


def test_objects_keep_the_api_shape_with_kind_and_resource_version(
        fake: FakeApi, kubeconfig: str) -> None:
    fake.add_all(m.shop_cluster())
    read = read_cluster(kubeconfig, None, None, True)
    assert read.errors == []
    policy = next(s for s in read.objects if s.obj["kind"] == "NetworkPolicy")
    assert policy.location is None
    assert policy.obj["apiVersion"] == "networking.k8s.io/v1"
    assert policy.obj["spec"]["podSelector"] == {}  # camelCase, not pod_selector
    assert policy.obj["metadata"]["resourceVersion"].isdigit()
    names = kinds(read)
    assert sorted(names["Namespace"]) == ["default", "kube-system", "shop"]
    assert "migrate-1-done" not in names["Pod"]  # Succeeded pods are skipped
    assert len(names["Pod"]) == 3 and names["Service"] == ["kube-dns"]
    assert "DaemonSet" not in names  # read for CNI detection only
    assert read.cni is not None and read.cni.name == "cilium"
    assert read.namespace is None and read.server == kubeconfig_server(kubeconfig)


def kubeconfig_server(path: str) -> str:
    import json
    return json.loads(Path(path).read_text())["clusters"][0]["cluster"]["server"]


def test_pagination_follows_continue_across_three_pages(
        fake: FakeApi, kubeconfig: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "LIST_LIMIT", 2)
    fake.add_all([m.namespace("shop")] + [
        m.pod(f"web-{i}", "shop", {"app": "web"}, f"10.0.1.{i}") for i in range(5)])
    read = read_cluster(kubeconfig, None, None, True)
    assert sorted(kinds(read)["Pod"]) == [f"web-{i}" for i in range(5)]
    pod_requests = [r for r in fake.requests if r.startswith("/api/v1/pods")]
    assert len(pod_requests) == 3
    assert "continue=" not in pod_requests[0]
    assert all("continue=" in r and "limit=2" in r for r in pod_requests[1:])


def test_expired_continue_token_restarts_the_list(
        fake: FakeApi, kubeconfig: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "LIST_LIMIT", 2)
    fake.add_all([m.pod(f"web-{i}", "shop", {"app": "web"}, f"10.0.1.{i}") for i in range(5)])
    fake.add(m.DEFAULT_DENY)
    fake.expire_continues = 1  # the first continue request (for pods) answers 410 Expired
    read = read_cluster(kubeconfig, None, None, True)
    pods = kinds(read)["Pod"]
    assert sorted(pods) == [f"web-{i}" for i in range(5)]  # no duplicates from the first try
    pod_requests = [r for r in fake.requests if r.startswith("/api/v1/pods")]
    assert [("continue=" in r) for r in pod_requests] == [False, True, False, True, True]
    assert read.errors == []


def test_a_list_that_keeps_expiring_is_an_error_not_a_loop(
        fake: FakeApi, kubeconfig: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "LIST_LIMIT", 1)
    fake.add_all([m.DEFAULT_DENY, {**m.DNS_ALLOW, "metadata": {"name": "dns",
                                                                "namespace": "shop"}}])
    fake.expire_continues = 100
    read = read_cluster(kubeconfig, None, None, True)
    policy_requests = [r for r in fake.requests if "networkpolicies" in r]
    assert len(policy_requests) == 2 * (cluster.MAX_LIST_RESTARTS + 1)
    assert [e.severity for e in read.errors] == ["error"]
    assert "networkpolicies" in read.errors[0].message
    assert "410" in read.errors[0].message


def test_forbidden_pods_is_a_warning_naming_verb_and_resource(
        fake: FakeApi, kubeconfig: str) -> None:
    fake.add_all(m.shop_cluster())
    fake.forbidden = {"pods"}
    read = read_cluster(kubeconfig, None, None, True)
    assert len(read.errors) == 1
    error = read.errors[0]
    assert error.severity == "warning" and error.file == "<cluster>"
    assert "cannot list pods in all namespaces: forbidden" in error.message
    assert "'list'" in error.message and "'pods'" in error.message
    assert kinds(read)["NetworkPolicy"] == ["default-deny"]  # the rest was read


def test_forbidden_network_policies_name_the_api_group(fake: FakeApi, kubeconfig: str) -> None:
    fake.add_all(m.shop_cluster())
    fake.forbidden = {"networkpolicies"}
    read = read_cluster(kubeconfig, None, "shop", False)
    assert read.errors[0].severity == "error"
    assert "cannot list networkpolicies in namespace shop: forbidden" in read.errors[0].message
    assert "networkpolicies.networking.k8s.io" in read.errors[0].message


def test_namespace_scope_reads_all_namespaces_but_only_that_namespace_s_pods(
        fake: FakeApi, kubeconfig: str) -> None:
    fake.add_all(m.shop_cluster())
    read = read_cluster(kubeconfig, None, "kube-system", False)
    names = kinds(read)
    assert read.namespace == "kube-system"
    assert names["Pod"] == ["coredns-76f75df574-2xq7v"]
    assert "NetworkPolicy" not in names
    assert sorted(names["Namespace"]) == ["default", "kube-system", "shop"]
    assert any(r.startswith("/api/v1/namespaces/kube-system/pods") for r in fake.requests)
    assert read.cni is not None and read.cni.name == "cilium"  # DaemonSets cluster-wide


def test_namespace_synthesized_when_namespaces_cannot_be_read(
        fake: FakeApi, kubeconfig: str) -> None:
    fake.add_all(m.shop_cluster())
    fake.forbidden = {"namespaces"}
    read = read_cluster(kubeconfig, None, "shop", False)
    namespaces = [s.obj for s in read.objects if s.obj["kind"] == "Namespace"]
    assert namespaces == [{"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "shop", "labels": {"kubernetes.io/metadata.name": "shop"}}}]
    assert "cannot read namespace shop" in read.errors[0].message
    assert read.errors[0].severity == "warning"


def test_one_namespace_by_get_when_only_get_is_allowed(
        fake: FakeApi, kubeconfig: str) -> None:
    fake.add_all(m.shop_cluster())
    fake.forbidden = {"list namespaces"}
    read = read_cluster(kubeconfig, None, "shop", False)
    namespaces = [s.obj for s in read.objects if s.obj["kind"] == "Namespace"]
    assert len(namespaces) == 1 and namespaces[0]["apiVersion"] == "v1"
    assert namespaces[0]["metadata"]["labels"]["team"] == "shop"  # the real labels
    assert namespaces[0]["metadata"]["resourceVersion"].isdigit()
    assert read.errors == []
    assert "/api/v1/namespaces/shop" in fake.requests


def test_default_scope_is_the_context_namespace(
        fake: FakeApi, kubeconfig: str, tmp_path: Path) -> None:
    fake.add_all(m.shop_cluster())
    path = write_kubeconfig(tmp_path / "ctx", kubeconfig_server(kubeconfig), namespace="shop")
    read = read_cluster(str(path), None, None, False)
    assert read.namespace == "shop"
    assert sorted(kinds(read)["Pod"]) == ["client-5d4b-xyz12", "web-7c9f8d-abcde"]
    read = read_cluster(kubeconfig, None, None, False)
    assert read.namespace == "default" and "Pod" not in kinds(read)


def test_cilium_policies_read_only_when_the_group_is_served(
        fake: FakeApi, kubeconfig: str) -> None:
    cnp = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
           "metadata": {"name": "icmp", "namespace": "shop"},
           "spec": {"endpointSelector": {}, "ingress": [
               {"fromEndpoints": [{}], "icmps": [{"fields": [{"type": 8}]}]}]}}
    ccnp = {"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
            "metadata": {"name": "host"}, "spec": {"nodeSelector": {}}}
    fake.add_all([cnp, ccnp])
    read = read_cluster(kubeconfig, None, None, True)
    assert "CiliumNetworkPolicy" not in kinds(read) and read.errors == []
    assert [r for r in fake.requests if "cilium.io" in r] == ["/apis/cilium.io/v2"]
    fake.cilium = True
    read = read_cluster(kubeconfig, None, "shop", False)
    assert kinds(read)["CiliumNetworkPolicy"] == ["icmp"]
    assert kinds(read)["CiliumClusterwideNetworkPolicy"] == ["host"]
    item = next(s.obj for s in read.objects if s.obj["kind"] == "CiliumNetworkPolicy")
    assert item["apiVersion"] == "cilium.io/v2" and item["spec"]["ingress"][0]["icmps"]


def test_wrong_token_is_unreachable_with_the_reason(
        fake: FakeApi, kubeconfig: str, tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "bad", kubeconfig_server(kubeconfig), token="wrong")
    with pytest.raises(ClusterUnreachable, match="401 Unauthorized"):
        read_cluster(str(path), None, None, True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_closed_port_is_unreachable_naming_server_and_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    server = f"http://127.0.0.1:{free_port()}"
    path = write_kubeconfig(tmp_path / "kc", server)
    with pytest.raises(ClusterUnreachable) as raised:
        read_cluster(str(path), None, None, True)
    message = str(raised.value)
    assert message.startswith(f"cannot reach {server}")
    assert "Connection refused" in message and "\n" not in message


def test_missing_kubeconfig_and_unknown_context(tmp_path: Path, kubeconfig: str) -> None:
    with pytest.raises(ClusterUnreachable, match="cannot load kubeconfig"):
        read_cluster(str(tmp_path / "absent"), None, None, True)
    with pytest.raises(ClusterUnreachable, match="nope"):
        read_cluster(kubeconfig, "nope", None, True)


def test_in_cluster_chosen_only_without_kubeconfig_or_context() -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert use_in_cluster(None, None, env)
    assert not use_in_cluster("/tmp/kc", None, env)
    assert not use_in_cluster(None, "prod", env)
    assert not use_in_cluster(None, None, {**env, "KUBECONFIG": "/tmp/kc"})
    assert not use_in_cluster(None, None, {})


def test_in_cluster_configuration_from_the_service_account(
        tmp_path: Path, kubeconfig: str) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n")
    (tmp_path / "namespace").write_text("ops\n")
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    configuration, namespace = client_configuration(None, None, env, tmp_path)
    assert configuration.host == "https://10.96.0.1:443"
    assert configuration.api_key["BearerToken"] == "bearer sa-token"
    assert configuration.ssl_ca_cert == str(tmp_path / "ca.crt")
    assert namespace == "ops"
    (tmp_path / "token").unlink()
    with pytest.raises(ClusterUnreachable, match="in-cluster service account"):
        client_configuration(None, None, env, tmp_path)
    # with --kubeconfig the kubeconfig wins even inside a pod
    configuration, _ = client_configuration(kubeconfig, None, env, tmp_path)
    assert configuration.host == kubeconfig_server(kubeconfig)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_counter_only_on_a_terminal() -> None:
    tty, pipe = _Tty(), io.StringIO()
    for stream in (tty, pipe):
        meter = cluster._Progress(True, stream)
        meter.update("pods", 500)
        meter.done()
    assert "reading pods: 500" in tty.getvalue()
    assert pipe.getvalue() == ""
    quiet = _Tty()
    cluster._Progress(False, quiet).update("pods", 1)
    assert quiet.getvalue() == ""
