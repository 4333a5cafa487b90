"""explain --fix: the narrowest patch admitting one flow, and where it goes."""

from __future__ import annotations

from netpol_fix.engine.verdict import Explainer, Query
from netpol_fix.fixes.flow import narrowest_fix
from tests.rules.helpers import context

ONE_WORKLOAD = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: frontend, labels: {app: web, tier: web}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: backend, labels: {app: api}}
spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-dns, namespace: frontend}
spec:
  podSelector: SELECTOR
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]
    ports: [{port: 53, protocol: UDP}]
"""


def fix_for(selector: str):  # type: ignore[no-untyped-def]
    ctx = context(ONE_WORKLOAD.replace("SELECTOR", selector))
    net = ctx.network
    [web], [api] = net.find("frontend", "web"), net.find("backend", "api")
    verdict = Explainer(net).explain_pods(web, api, Query(8080))
    assert not verdict.allowed
    return narrowest_fix(net, verdict, web, api, Query(8080))


def test_an_empty_selector_never_takes_a_flow_specific_rule() -> None:
    """Issue 13: frontend/allow-dns (`podSelector: {}`) selects only web today, but every
    future pod of frontend too: the rule goes into a new policy for web."""
    fix = fix_for("{}")
    assert fix is not None and fix.patches == []
    [new] = fix.creates
    assert new.obj["metadata"]["name"] == "web-allow-egress"
    assert new.obj["spec"]["podSelector"] == {"matchLabels": {"app": "web", "tier": "web"}}
    assert [str(f) for f in fix.opens] == ["frontend/Pod/web -> backend/Pod/api TCP 8080"]


def test_a_class_selector_is_not_the_workload_either() -> None:
    """`tier: web` selects every future web pod of frontend: a new policy too."""
    fix = fix_for("{matchLabels: {tier: web}}")
    assert fix is not None and fix.patches == []
    assert [c.obj["metadata"]["name"] for c in fix.creates] == ["web-allow-egress"]


def test_a_policy_naming_the_workload_takes_the_rule() -> None:
    fix = fix_for("{matchLabels: {app: web}}")
    assert fix is not None and fix.creates == []
    [patch] = fix.patches
    assert patch.object.name == "allow-dns"
