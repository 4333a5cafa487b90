"""Network.with_policies (the network a fix's effect is computed on) must answer every
connectivity query exactly as a Network built from scratch with the same policies."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from netpol_fix.engine.network import Network
from netpol_fix.inventory.policies import parse_network_policy
from netpol_fix.model.policy import NetworkPolicy
from tests.conftest import inventory_from_yaml

MANIFESTS = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: data, labels: {app: db}}
spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: http}]}]
  egress: [{to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: data}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}}]}]
"""


def all_pairs(net: Network) -> dict[tuple[int, int], object]:
    return {(s, d): (net.ingress_conns(s, d), net.egress_conns(s, d))
            for s in range(net.size) for d in range(net.size)}


def variants(policies: list[NetworkPolicy]) -> dict[str, list[NetworkPolicy]]:
    """Replace one policy (its selection and rules change), add one, remove one."""
    web = next(p for p in policies if p.name == "web")
    raw = copy.deepcopy(web.source.obj)
    raw["spec"]["podSelector"] = {}
    raw["spec"]["ingress"] = []  # narrower too: keeping the old one by mistake shows
    raw["spec"]["egress"].append({"to": [{"podSelector": {}}], "ports": [{"port": 53}]})
    replaced = parse_network_policy(raw, "shop", web.source)
    extra = parse_network_policy(
        {"metadata": {"name": "api-egress", "namespace": "shop"},
         "spec": {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Egress"],
                  "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]}},
        "shop", None)
    return {
        "replaced": [replaced if p is web else p for p in policies],
        "added": [*policies, extra],
        "removed": [p for p in policies if p.name != "deny"],
        "replaced-and-added": [*(replaced if p is web else p for p in policies), extra],
    }


@pytest.mark.parametrize("case", ["replaced", "added", "removed", "replaced-and-added"])
def test_derived_network_answers_like_a_fresh_one(case: str) -> None:
    inventory = inventory_from_yaml(MANIFESTS)
    base = Network(inventory)
    all_pairs(base)  # warm the caches the derived network shares
    policies = variants(list(inventory.policies))[case]
    derived = base.with_policies(policies)
    fresh = Network(replace(inventory, policies=policies))
    assert all_pairs(derived) == all_pairs(fresh)
    assert all_pairs(base) == all_pairs(Network(inventory))  # the base is left as it was


@pytest.mark.parametrize("case", ["replaced", "added", "removed", "replaced-and-added"])
def test_side_rows_answer_like_pair_queries(case: str) -> None:
    """side_conns (one pass per row, used for fix effects) agrees with the per-pair queries,
    named ports (web's `http`) included."""
    inventory = inventory_from_yaml(MANIFESTS)
    base = Network(inventory)
    for net in (base, base.with_policies(variants(list(inventory.policies))[case])):
        everyone = net.all
        for i in range(net.size):
            assert net.side_conns(i, "Egress", everyone) == {
                j: net.egress_conns(i, j) for j in range(net.size)}
            assert net.side_conns(i, "Ingress", everyone) == {
                j: net.ingress_conns(j, i) for j in range(net.size)}
