"""flow_changes: what a patch opens and closes, checked against an all-pairs diff."""

from __future__ import annotations

from typing import Any

import pytest

from netpol_fix.fixes.effect import (
    flow_changes,
    flows_closed,
    flows_opened,
    flows_opened_by_rules,
    patched_policies,
)
from netpol_fix.inventory.policies import parse_rules
from netpol_fix.model.findings import UNSAFE, Fix, Patch
from netpol_fix.model.objects import ObjectRef
from tests.rules.helpers import apply_fix, connectivity_diff, context, docs, inventory_of
from tests.rules.test_rules_ignored import EGRESS_IGNORED

PATCHES = {
    "enforce egress": [{"op": "replace", "path": "/spec/policyTypes",
                        "value": ["Ingress", "Egress"]}],
    "drop ingress isolation": [{"op": "replace", "path": "/spec/policyTypes",
                                "value": ["Egress"]}],
    "same decisions": [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}],
    "other pods": [{"op": "replace", "path": "/spec/podSelector",
                    "value": {"matchLabels": {"app": "db"}}},
                   {"op": "replace", "path": "/spec/ingress", "value": []}],
}


@pytest.mark.parametrize("name", sorted(PATCHES))
def test_flow_changes_equal_the_all_pairs_difference(name: str) -> None:
    objects = docs(EGRESS_IGNORED)
    ctx = context(objects)
    policy = next(p for p in ctx.inventory.policies if p.name == "web")
    patch = Patch(ObjectRef("networking.k8s.io/v1", "NetworkPolicy", "shop", "web"),
                  PATCHES[name], policy.source)
    new = patched_policies(ctx.inventory, [patch])
    opened, closed = flow_changes(ctx.network, new)
    expected = connectivity_diff(
        ctx, inventory_of(apply_fix(objects, Fix(UNSAFE, "", [patch]))))
    assert (set(opened), set(closed)) == expected
    assert flows_opened(ctx.network, new) == opened
    assert flows_closed(ctx.network, new) == closed
    if name == "same decisions":
        assert opened == closed == []
    else:
        assert opened or closed


APPEND_WORLD = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: db, labels: {team: b}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api, tier: back}}
    spec: {containers: [{name: c, ports: [{name: http, containerPort: 9000}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent, namespace: shop}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent, tier: back}}
    spec: {hostNetwork: true, containers: [{name: c}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: pg, namespace: db}
spec:
  selector: {matchLabels: {app: pg}}
  template:
    metadata: {labels: {app: pg}}
    spec: {containers: [{name: c, ports: [{name: http, containerPort: 5432}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-out, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {tier: back}}}]
    ports: [{port: 9000}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: pg-in, namespace: db}
spec:
  podSelector: {matchLabels: {app: pg}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: a}}, podSelector: {matchLabels: {tier: front}}}]
    ports: [{port: 5432}, {port: 6000, endPort: 6010}]
"""

APPENDED = {
    "egress to a namespace, numeric ports": ("deny-all", "Egress", [
        {"to": [{"namespaceSelector": {"matchLabels": {"team": "b"}}}],
         "ports": [{"port": 5432}, {"port": 6005, "protocol": "TCP"}]}]),
    "egress by named port, two rules": ("web-out", "Egress", [
        {"to": [{"podSelector": {"matchLabels": {"app": "api"}}}], "ports": [{"port": "http"}]},
        {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "pg"}}}]}]),
    "egress without peers": ("web-out", "Egress", [{"ports": [{"port": 5432}]}]),
    "egress to an ipBlock only": ("web-out", "Egress", [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]),
    "ingress from the same namespace": ("deny-all", "Ingress", [
        {"from": [{"podSelector": {"matchLabels": {"tier": "front"}}}],
         "ports": [{"port": "http"}, {"port": 8080, "protocol": "UDP"}]}]),
    "ingress already allowed": ("pg-in", "Ingress", [
        {"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}},
                   "podSelector": {"matchLabels": {"tier": "front"}}}],
         "ports": [{"port": 5432}]}]),
    "ingress from everyone": ("pg-in", "Ingress", [{}]),
}


@pytest.mark.parametrize("name", sorted(APPENDED))
def test_flows_opened_by_rules_equals_patching_and_diffing(name: str) -> None:
    """The shortcut for appended rules says what patching, re-parsing and diffing says,
    and what an all-pairs connectivity diff of the edited manifests says."""
    objects = docs(APPEND_WORLD)
    ctx = context(objects)
    policy_name, direction, rules = APPENDED[name]
    policy = next(p for p in ctx.inventory.policies if p.name == policy_name)
    field_name = direction.lower()
    operations: list[dict[str, Any]] = (
        [{"op": "add", "path": f"/spec/{field_name}/-", "value": rule} for rule in rules]
        if policy.rules(direction) else [{"op": "add", "path": f"/spec/{field_name}",
                                          "value": rules}])
    patch = Patch(policy.ref, operations, policy.source)
    shortcut = flows_opened_by_rules(ctx.network, policy.namespace,
                                     ctx.network.selected(policy), direction,
                                     parse_rules(rules, direction))
    assert shortcut == flows_opened(ctx.network, patched_policies(ctx.inventory, [patch]))
    opened, closed = connectivity_diff(
        ctx, inventory_of(apply_fix(objects, Fix(UNSAFE, "", [patch]))))
    assert (set(shortcut), closed) == (opened, set())
    if name == "ingress already allowed":
        assert shortcut == []
    elif name != "egress to an ipBlock only":
        assert shortcut


def test_flows_opened_by_rules_refuses_a_policy_that_does_not_isolate() -> None:
    ctx = context(docs(APPEND_WORLD))
    policy = next(p for p in ctx.inventory.policies if p.name == "pg-in")
    with pytest.raises(ValueError, match="not every endpoint selected in db is isolated"):
        flows_opened_by_rules(ctx.network, "db", ctx.network.selected(policy), "Egress",
                              parse_rules([{}], "Egress"))
