"""The causes `explain` names for a denied connection are the rules that would report it.

pod-selector-own-namespace is the cause only when the bare podSelector peer names the
source by its labels and the namespace alone keeps it out (the rule's own condition: "when
that is the only reason"); a peer for other pods is no cause. one-sided-allow is named only
when no specific cause explains the denial (one cause, one finding, as scan reports it).
"""

from __future__ import annotations

from netpol_fix.engine.verdict import Explainer, Query
from tests.conftest import network_from_yaml

PODS = """\
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: front, labels: {app: web}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: prometheus, namespace: monitoring, labels: {app: prometheus}}
spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 8080}]
"""


def causes(text: str, source: tuple[str, str]) -> list[str]:
    net = network_from_yaml(text)
    (src,), (dst,) = net.find(*source), net.find("shop", "api")
    return Explainer(net).explain_pods(src, dst, Query(8080, "TCP")).causes


def test_bare_pod_selector_naming_the_source_is_the_cause() -> None:
    """front/web has the peer's labels: only the namespace keeps it out."""
    assert causes(PODS, ("front", "web")) == ["pod-selector-own-namespace"]


def test_bare_pod_selector_for_other_pods_is_no_cause() -> None:
    """monitoring/prometheus is not `app: web`: the peer was never meant for it."""
    net = network_from_yaml(PODS)
    (src,), (dst,) = net.find("monitoring", "prometheus"), net.find("shop", "api")
    verdict = Explainer(net).explain_pods(src, dst, Query(8080, "TCP"))
    assert not verdict.allowed
    assert verdict.causes == []
    reasons = [check.reason for check in verdict.ingress.checks]
    assert any("podSelector app=web does not match monitoring/prometheus" in r for r in reasons)


EGRESS_LOCKED = PODS + """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: front}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}},
          podSelector: {matchLabels: {app: api}}}]
    ports: [{port: 8080}]
"""


def test_one_sided_is_not_named_beside_a_specific_cause() -> None:
    """front/web's egress admits shop/api and the ingress peer forgot its namespace: the
    specific cause is named, and one-sided-allow (the same flow) is not."""
    assert causes(EGRESS_LOCKED, ("front", "web")) == ["pod-selector-own-namespace"]


def test_one_sided_is_named_when_nothing_more_specific_explains_it() -> None:
    text = EGRESS_LOCKED.replace("podSelector: {matchLabels: {app: web}}}]\n    ports",
                                 "podSelector: {matchLabels: {app: nobody}}}]\n    ports")
    assert causes(text, ("front", "web")) == ["one-sided-allow"]
