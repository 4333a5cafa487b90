"""Flow endpoints -> workloads of the sources, addresses, node endpoints, or unresolved."""

from __future__ import annotations

import pytest

from netpol_fix.drops import resolve as resolve_module
from netpol_fix.drops.formats import Endpoint
from netpol_fix.drops.resolve import (
    EXTERNAL,
    NODE,
    OBSERVED,
    UNRESOLVED,
    WORKLOAD,
    Resolver,
    name_candidates,
    split_labels,
)
from tests.conftest import inventory_from_yaml

SOURCES = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web, tier: front}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: pg}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec:
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: a, image: a}]}
---
apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: shop, labels: {run: debug}}
spec: {containers: [{name: d, image: busybox}]}
status: {podIP: 10.1.2.3}
---
apiVersion: batch/v1
kind: Job
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {job: web}}
    spec: {containers: [{name: j, image: j}]}
"""


def resolver() -> Resolver:
    return Resolver(inventory_from_yaml(SOURCES).workloads)


def test_split_labels_strips_sources_and_sets_cilium_namespace_labels_apart() -> None:
    pod, namespace = split_labels((
        "k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop",
        "k8s:io.cilium.k8s.policy.serviceaccount=web", "k8s:io.cilium.k8s.policy.cluster=c1",
        "k8s:io.cilium.k8s.namespace.labels.team=payments",
        "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop",
        "reserved:host", "cidr:10.0.0.0/8", "version=v1"))
    assert pod == {"app": "web", "version": "v1"}
    assert namespace == {"team": "payments", "kubernetes.io/metadata.name": "shop"}


def test_name_candidates_strip_replicaset_hash_generated_suffix_and_ordinal() -> None:
    assert name_candidates("web-7c9f8d6b5-abcde") == [
        ("web-7c9f8d6b5-abcde", None), ("web", "Deployment"), ("web-7c9f8d6b5", "ReplicaSet"),
        ("web-7c9f8d6b5", None)]
    assert ("db", "StatefulSet") in name_candidates("db-0")
    assert ("agent", None) in name_candidates("agent-x7k2p")


def test_pod_names_resolve_to_their_workload() -> None:
    r = resolver()
    web = r.resolve(Endpoint(namespace="shop", pod="web-7c9f8d6b5-abcde"))
    assert (web.kind, web.ref) == (WORKLOAD, "shop/web[Deployment]")
    assert r.resolve(Endpoint(namespace="shop", pod="db-2")).ref == "shop/db[StatefulSet]"
    assert r.resolve(Endpoint(namespace="shop", pod="agent-x7k2p")).ref == \
        "shop/agent[DaemonSet]"
    debug = r.resolve(Endpoint(namespace="shop", pod="debug"))
    assert (debug.ref, debug.how) == ("shop/debug[Pod]", "pod name")


def test_a_name_two_workloads_share_is_settled_by_labels() -> None:
    """A Deployment and a Job are both called `web`: the pod `web-abcde` could be either
    (a Job's pods get a generated suffix too); the flow's labels decide."""
    r = resolver()
    job = r.resolve(Endpoint(namespace="shop", pod="web-qwert", labels=("k8s:job=web",)))
    assert job.ref == "shop/web[Job]"
    unsure = r.resolve(Endpoint(namespace="shop", pod="web-qwert"))
    assert unsure.kind == UNRESOLVED and "could be any of" in unsure.how


def test_hubble_workloads_and_labels_resolve_without_a_known_pod_name() -> None:
    r = resolver()
    by_workload = r.resolve(Endpoint(namespace="shop", pod="whatever",
                                     workloads=(("StatefulSet", "db"),)))
    assert by_workload.ref == "shop/db[StatefulSet]" and by_workload.how == "workload name"
    by_labels = r.resolve(Endpoint(namespace="shop", labels=(
        "k8s:app=web", "k8s:tier=front", "k8s:extra=1")))
    assert (by_labels.ref, by_labels.how) == ("shop/web[Deployment]", "labels")


def test_observed_labels_that_differ_from_the_sources_are_noted() -> None:
    drift = resolver().resolve(Endpoint(namespace="shop", pod="web-7c9f8d6b5-abcde",
                                        labels=("k8s:app=web", "k8s:tier=back")))
    assert drift.label_drift == ("tier=front",)


def test_a_pod_the_sources_do_not_hold_stands_in_with_the_flow_labels() -> None:
    got = resolver().resolve(Endpoint(namespace="kube-system", pod="coredns-558bd4d5db-w2m67",
                                      labels=("k8s:k8s-app=kube-dns",)))
    assert got.kind == OBSERVED and got.ref == "kube-system/coredns[Deployment]"
    assert got.workload is not None and dict(got.workload.labels) == {"k8s-app": "kube-dns"}
    nothing = resolver().resolve(Endpoint(namespace="other", pod="x"))
    assert nothing.kind == UNRESOLVED and "carries no labels" in nothing.how


def test_reserved_identities_are_addresses_or_node_endpoints() -> None:
    r = resolver()
    world = r.resolve(Endpoint(ip="93.184.215.14", reserved="world", identity=2))
    assert (world.kind, world.ref, world.address) == (EXTERNAL, "93.184.215.14",
                                                      "93.184.215.14")
    for name in ("host", "remote-node", "kube-apiserver", "health", "ingress"):
        node = r.resolve(Endpoint(ip="172.18.0.2", reserved=name))
        assert (node.kind, node.ref) == (NODE, f"{name} 172.18.0.2")


def test_an_address_resolves_to_the_pod_that_has_it() -> None:
    r = resolver()
    assert r.resolve(Endpoint(ip="10.1.2.3", identity=5000)).ref == "shop/debug[Pod]"
    unknown = r.resolve(Endpoint(ip="10.9.9.9", identity=5001))
    assert unknown.kind == UNRESOLVED and "Cilium identity 5001" in unknown.how


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolve_module, "CACHE_LIMIT", 3)
    r = resolver()
    for i in range(10):
        r.resolve(Endpoint(ip=f"10.9.9.{i}"))
        assert len(r._memo) <= 3


def test_a_dns_pod_named_without_labels_stands_in_with_the_dns_labels() -> None:
    """An exporter's field mask may leave out labels: a kube-system pod named like the
    cluster DNS then takes the DNS pods' labels of the settings; other pods stay
    unresolved (their labels cannot be guessed)."""
    r = Resolver([], ("kube-system", {"k8s-app": "kube-dns"}))
    dns = r.resolve(Endpoint(namespace="kube-system", pod="coredns-558bd4d5db-w2m67"))
    assert (dns.kind, dns.ref) == (OBSERVED, "kube-system/coredns[Deployment]")
    assert dns.workload is not None and dict(dns.workload.labels) == {"k8s-app": "kube-dns"}
    other = r.resolve(Endpoint(namespace="kube-system", pod="metrics-server-5f8d-abcde"))
    assert other.kind == UNRESOLVED
