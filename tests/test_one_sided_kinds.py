"""one-sided-allow across kinds: a side isolated only by a CiliumNetworkPolicy, admin
policies' Allow rules as evidence, and what such fixes open through the tiers.

Sentences followed (facts and sources: shared/notes/policy-kinds.md):

* Cilium, "Endpoint default policy" (Documentation/security/policy/intro.rst): in the
  default enforcement mode an endpoint is open until a rule selects it, then default deny
  per direction ("a rule with an ingress section affects ingress").
* Cilium, "Kubernetes" (kubernetes.rst): `fromEndpoints`/`toEndpoints` without a
  namespace label default to the policy's namespace; another namespace is selected with
  `k8s:io.kubernetes.pod.namespace: <ns>`.
* Cilium, "Deny Policies" (deny.rst): deny policies "take precedence over allow policies".
* Cilium, Layer 3 examples: "policies are additive".
* network-policy-api, AdminNetworkPolicy: Allow "allows the selected traffic (even if it
  would otherwise have been denied by NetworkPolicy)" for the subject's side; "Deny cannot
  be overridden"; the order of evaluation is ANP by priority, NetworkPolicy, BANP, the
  Kubernetes default allow. A connection needs both sides.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest
import yaml

from netpol_fix.engine.cni import cni_model
from netpol_fix.engine.network import Network
from netpol_fix.fixes.effect import (
    flows_between,
    flows_opened,
    flows_opened_by_rules,
    patched_policies,
)
from netpol_fix.inventory.policies import parse_rules
from netpol_fix.model.findings import Finding, Fix, Flow, Patch
from netpol_fix.model.objects import endpoint_ref
from netpol_fix.rules.one_sided_allow import OneSidedAllow
from tests.rules.helpers import context, inventory_of

WORLD = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: data}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec: {containers: [{name: main, image: example/web}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker, namespace: shop}
spec:
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker, tier: back}}
    spec: {containers: [{name: main, image: example/worker}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: other, namespace: data}
spec:
  selector: {matchLabels: {app: other}}
  template:
    metadata: {labels: {app: other}}
    spec: {containers: [{name: main, image: example/other}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: data}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: main
        image: postgres:16
        ports: [{containerPort: 5432}, {containerPort: 9187, name: metrics}]
"""

WEB_EGRESS_NP = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: data}}
      podSelector: {matchLabels: {app: db}}
    PORTS
"""

DB_INGRESS_CNP = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db-ingress, namespace: data}
spec:
  endpointSelector: {matchLabels: SELECTOR}
  ingress:
  - fromEndpoints: [{matchLabels: {app: other}}]
"""

WEB_EGRESS_CNP = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toEndpoints: [{matchLabels: {app: worker}}]
"""

DB_INGRESS_NP = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: data}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}
      podSelector: {matchLabels: {app: web}}
    ports: [{port: 5432, protocol: TCP}]
"""

DENY_ALL_NP = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: NS}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
"""


def objects(*texts: str) -> list[dict[str, Any]]:
    return [d for text in (WORLD, *texts) for d in yaml.safe_load_all(text)
            if isinstance(d, dict)]


def findings(objs: list[dict[str, Any]], cni: str = "cilium", **settings: Any
             ) -> list[Finding]:
    return list(OneSidedAllow().check(context(objs, cni=cni, **settings)))


def applied(objs: list[dict[str, Any]], fix: Fix) -> list[dict[str, Any]]:
    """The objects with the fix's JSON Patch applied to the object it names and its new
    objects added (the canonical form of a fix)."""
    result = copy.deepcopy(objs)
    for patch in fix.patches:
        ref = patch.object
        for i, obj in enumerate(result):
            meta = obj.get("metadata") or {}
            if (obj.get("kind"), meta.get("namespace"), meta.get("name")) \
                    == (ref.kind, ref.namespace, ref.name):
                result[i] = jsonpatch.apply_patch(obj, patch.operations)
                break
        else:
            raise AssertionError(f"no object for {ref}")
    return result + [copy.deepcopy(c.obj) for c in fix.creates]


def opened_by_diff(before: list[dict[str, Any]], after: list[dict[str, Any]], cni: str
                   ) -> tuple[set[Flow], set[Flow]]:
    """(opened, closed) over every pair, each network built from the manifests through
    the tiered engine (with the analysis' stand-ins: the DNS pods)."""
    model = cni_model(cni)
    ctx = context(before, cni=cni)
    extra = tuple(ctx.network.endpoints[len(ctx.inventory.workloads):])
    nets = [Network(inventory_of(objs), extra_endpoints=extra, cni=model)
            for objs in (before, after)]
    assert [e.key for e in nets[0].endpoints] == [e.key for e in nets[1].endpoints]
    opened: set[Flow] = set()
    closed: set[Flow] = set()
    refs = [endpoint_ref(e) for e in nets[0].endpoints]
    for s in range(nets[0].size):
        for d in range(nets[0].size):
            if s == d:
                continue
            was, now = (n.ingress_conns(s, d) & n.egress_conns(s, d) for n in nets)
            opened.update(flows_between(was, now, refs[s], refs[d], icmp=True))
            closed.update(flows_between(now, was, refs[s], refs[d], icmp=True))
    return opened, closed


def check_fix(objs: list[dict[str, Any]], finding: Finding, cni: str = "cilium"
              ) -> list[dict[str, Any]]:
    """The fix opens exactly what it says (patch, re-parse, all-pairs diff), closes
    nothing, and the finding is gone afterwards."""
    fix = finding.fix
    assert fix is not None
    after = applied(objs, fix)
    opened, closed = opened_by_diff(objs, after, cni)
    assert closed == set()
    assert set(fix.opens) == opened
    assert fix.opens_pairs in (None, len({(f.source, f.destination) for f in opened}))
    assert opened
    assert [f for f in findings(after, cni) if f.fix is not None] == []
    return after


# ----- 1. a denying side only a CiliumNetworkPolicy isolates ------------------------------

def test_cnp_isolated_ingress_gets_a_cnp_rule_appended() -> None:
    """shop/web's NetworkPolicy egress names data/db on TCP 5432; data/db's ingress is
    decided by a CNP alone (endpointSelector app=db, admits app=other). Cilium: the CNP
    puts db in default deny for ingress, so web's connection is dropped. The fix is a CNP
    ingress rule with the namespace label (a selector without it would be data's own web
    pods) and exactly the port the allowing rule names, appended to that CNP: it selects
    db alone and names it."""
    objs = objects(WEB_EGRESS_NP.replace("PORTS", "ports: [{port: 5432, protocol: TCP}]"),
                   DB_INGRESS_CNP.replace("SELECTOR", "{app: db}"))
    found = findings(objs)
    assert len(found) == 1
    finding = found[0]
    assert finding.severity == "error"
    assert (finding.object.kind, finding.object.namespace, finding.object.name) \
        == ("CiliumNetworkPolicy", "data", "db-ingress")
    assert "egress of NetworkPolicy shop/web-egress explicitly allows TCP 5432 from " \
           "shop/web[Deployment] to data/db[StatefulSet], but CiliumNetworkPolicy " \
           "data/db-ingress isolates data/db[StatefulSet] for ingress" in finding.message
    fix = finding.fix
    assert fix is not None and not fix.creates
    ops = fix.patches[0].operations
    assert ops[0] == {"op": "test", "path": "/spec/endpointSelector",
                      "value": {"matchLabels": {"app": "db"}}}
    assert ops[-1] == {"op": "add", "path": "/spec/ingress/-", "value": {
        "fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "shop",
                                           "app": "web"}}],
        "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}]}}
    check_fix(objs, finding)
    assert [(f.source, f.destination, f.protocol, f.port) for f in fix.opens] \
        == [("shop/Deployment/web", "data/StatefulSet/db", "TCP", 5432)]


def test_before_cilium_enforces_nothing_is_reported() -> None:
    """Under Calico, CiliumNetworkPolicies are stored and decide nothing: db's ingress is
    not isolated, web's connection passes."""
    objs = objects(WEB_EGRESS_NP.replace("PORTS", "ports: [{port: 5432}]"),
                   DB_INGRESS_CNP.replace("SELECTOR", "{app: db}"))
    assert findings(objs, cni="calico") == []
    assert len(findings(objs, cni="unknown")) == 1


def test_rule_without_ports_gives_a_cnp_rule_without_toports() -> None:
    """A NetworkPolicy rule without ports admits every port: the CNP counterpart has no
    toPorts (Cilium: a rule without toPorts admits every port and protocol)."""
    objs = objects(WEB_EGRESS_NP.replace("PORTS", ""),
                   DB_INGRESS_CNP.replace("SELECTOR", "{app: db}"))
    (finding,) = findings(objs)
    assert finding.fix is not None
    assert finding.fix.patches[0].operations[-1]["value"] == {"fromEndpoints": [
        {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "shop", "app": "web"}}]}
    check_fix(objs, finding)


def test_ports_as_written_protocol_only_and_ranges() -> None:
    """Ports keep their protocols and ranges: UDP without a port is every UDP port
    (`"0"`), a range keeps its endPort, a named port stays named."""
    ports = ("ports: [{protocol: UDP}, {port: 6000, endPort: 6010}, "
             "{port: metrics, protocol: TCP}]")
    objs = objects(WEB_EGRESS_NP.replace("PORTS", ports),
                   DB_INGRESS_CNP.replace("SELECTOR", "{app: db}"))
    (finding,) = findings(objs)
    assert finding.fix is not None
    assert finding.fix.patches[0].operations[-1]["value"]["toPorts"] == [{"ports": [
        {"port": "0", "protocol": "UDP"}, {"port": "6000", "protocol": "TCP", "endPort": 6010},
        {"port": "metrics", "protocol": "TCP"}]}]
    check_fix(objs, finding)


def test_broad_endpoint_selector_gets_a_new_cnp_per_workload() -> None:
    """A namespace-wide CNP (`endpointSelector: {}`) would let every pod of data through,
    those created later too: a new CNP `db-allow-ingress` selecting db by all its labels
    carries the rule instead, placed after the CNP it would have edited."""
    objs = objects(WEB_EGRESS_NP.replace("PORTS", "ports: [{port: 5432}]"),
                   DB_INGRESS_CNP.replace("{matchLabels: SELECTOR}", "{}"))
    (finding,) = findings(objs)
    fix = finding.fix
    assert fix is not None and not fix.patches
    (created,) = fix.creates
    assert created.obj == {
        "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "db-allow-ingress", "namespace": "data"},
        "spec": {"endpointSelector": {"matchLabels": {"app": "db"}},
                 "ingress": [{"fromEndpoints": [{"matchLabels": {
                     "k8s:io.kubernetes.pod.namespace": "shop", "app": "web"}}],
                     "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}]}]}}
    assert created.after is not None and created.after.obj["metadata"]["name"] == "db-ingress"
    assert "CiliumNetworkPolicy data/db-ingress selects every pod" in fix.description
    check_fix(objs, finding)


def test_cnp_isolated_egress_gets_a_toendpoints_rule() -> None:
    """The mirror case: db's NetworkPolicy ingress names shop/web on 5432; web's egress is
    isolated by a CNP alone (to worker only): a CNP egress rule `toEndpoints` data/db."""
    objs = objects(DB_INGRESS_NP, WEB_EGRESS_CNP)
    (finding,) = findings(objs)
    assert (finding.object.kind, finding.object.name) == ("CiliumNetworkPolicy", "web-egress")
    assert finding.fix is not None
    assert finding.fix.patches[0].operations[-1] == {
        "op": "add", "path": "/spec/egress/-", "value": {
            "toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "data",
                                             "app": "db"}}],
            "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}]}}
    check_fix(objs, finding)


def test_both_sides_cilium() -> None:
    """A CNP allow (db's ingress from shop/web on 5432) and a CNP-isolated egress (web to
    worker only): the fix is a CNP egress rule, on the CNP rule's ports as written."""
    db_allows = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db-from-web, namespace: data}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: web, k8s:io.kubernetes.pod.namespace: shop}}]
    toPorts: [{ports: [{port: "5432", protocol: TCP}]}]
"""
    objs = objects(db_allows, WEB_EGRESS_CNP)
    (finding,) = findings(objs)
    assert "ingress of CiliumNetworkPolicy data/db-from-web explicitly allows TCP 5432" \
        in finding.message
    assert finding.fix is not None
    assert finding.fix.patches[0].operations[-1]["value"] == {
        "toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "data",
                                         "app": "db"}}],
        "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}]}
    check_fix(objs, finding)


def test_cilium_icmp_allow_has_a_cnp_counterpart() -> None:
    """A CNP ICMP allow has no NetworkPolicy form, but a Cilium-isolated other side takes
    the same `icmps` rule."""
    db_allows = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db-ping, namespace: data}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: web, k8s:io.kubernetes.pod.namespace: shop}}]
    icmps: [{fields: [{type: 8, family: IPv4}]}]
"""
    objs = objects(db_allows, WEB_EGRESS_CNP)
    (finding,) = findings(objs)
    assert finding.fix is not None
    assert finding.fix.patches[0].operations[-1]["value"]["icmps"] == [
        {"fields": [{"type": 8, "family": "IPv4"}]}]
    check_fix(objs, finding)


def test_cilium_deny_rule_on_the_cnp_side_is_a_warning_without_fix() -> None:
    """Deny rules take precedence over allow policies: an allow rule in the CNP would open
    nothing, so the drop is told on the deny rule, without a fix."""
    denying = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db-ingress, namespace: data}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: other}}]
  ingressDeny:
  - fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: shop}}]
"""
    objs = objects(WEB_EGRESS_NP.replace("PORTS", "ports: [{port: 5432}]"), denying)
    (finding,) = findings(objs)
    assert finding.severity == "warning" and finding.fix is None
    assert "CNP data/db-ingress ingressDeny rule #1 drops it first" in finding.message


def test_a_networkpolicy_isolating_too_is_edited_as_before() -> None:
    """When a NetworkPolicy also isolates the side, the fix stays a NetworkPolicy rule."""
    objs = objects(WEB_EGRESS_NP.replace("PORTS", "ports: [{port: 5432}]"),
                   DB_INGRESS_CNP.replace("SELECTOR", "{app: db}"),
                   DENY_ALL_NP.replace("NS", "data"))
    (finding,) = [f for f in findings(objs) if "shop/web-egress" in f.message]
    assert (finding.object.kind, finding.object.name) == ("NetworkPolicy", "default-deny")
    assert finding.fix is not None
    assert finding.fix.creates[0].obj["kind"] == "NetworkPolicy"


# ----- 2. admin policies' Allow rules as evidence ---------------------------------------

ANP_ALLOW = """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: web-to-db}
spec:
  priority: 20
  subject:
    pods:
      namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}
      podSelector: {matchLabels: {app: web}}
  egress:
  - name: to-db
    action: Allow
    to:
    - PEER
    ports: [{portNumber: {protocol: TCP, port: 5432}}]
"""
NARROW_PEER = ("pods: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "
               "data}}, podSelector: {matchLabels: {app: db}}}")


def test_anp_allow_egress_against_a_networkpolicy_default_deny() -> None:
    """An ANP egress Allow decides web's egress only; db's ingress still goes through its
    tiers: its NetworkPolicy default deny drops the connection. The fix is a NetworkPolicy
    rule from the subject's pods in their namespace on the Allow rule's port."""
    objs = objects(ANP_ALLOW.replace("PEER", NARROW_PEER), DENY_ALL_NP.replace("NS", "data"))
    (finding,) = findings(objs, cni="unknown")
    assert finding.severity == "error"
    assert "egress of AdminNetworkPolicy web-to-db explicitly allows TCP 5432 from " \
           "shop/web[Deployment] to data/db[StatefulSet]" in finding.message
    assert finding.fix is not None
    (created,) = finding.fix.creates
    assert created.obj["spec"]["ingress"] == [{
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}},
                  "podSelector": {"matchLabels": {"app": "web"}}}],
        "ports": [{"protocol": "TCP", "port": 5432}]}]
    check_fix(objs, finding, cni="unknown")


def test_anp_allow_against_a_cnp_isolated_side_gets_a_cnp_rule() -> None:
    objs = objects(ANP_ALLOW.replace("PEER", NARROW_PEER),
                   DB_INGRESS_CNP.replace("SELECTOR", "{app: db}"))
    (finding,) = findings(objs, cni="unknown")
    assert finding.fix is not None
    assert finding.fix.patches[0].operations[-1]["value"] == {
        "fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "shop",
                                           "app": "web"}}],
        "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}]}
    check_fix(objs, finding, cni="unknown")


def test_anp_allow_ingress_against_a_networkpolicy_isolated_egress() -> None:
    """An ingress Allow for db from shop/web; web's egress is a NetworkPolicy default deny."""
    anp = """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: db-from-web}
spec:
  priority: 5
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: data}}}
  ingress:
  - name: from-web
    action: Allow
    from:
    - pods: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}},
             podSelector: {matchLabels: {app: web}}}
    ports: [{portRange: {protocol: TCP, start: 5432, end: 5433}}]
"""
    objs = objects(anp, DENY_ALL_NP.replace("NS", "shop"))
    found = [f for f in findings(objs, cni="unknown") if f.fix is not None]
    assert len(found) == 1
    finding = found[0]
    assert finding.object.name == "default-deny" and finding.object.namespace == "shop"
    fix = finding.fix
    assert fix is not None
    rule = fix.creates[0].obj["spec"]["egress"][0]
    # the subject is every pod of data (a `namespaces` subject): its counterpart is every
    # pod of data, on the range as written
    assert rule == {"to": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "data"}}, "podSelector": {}}],
        "ports": [{"protocol": "TCP", "port": 5432, "endPort": 5433}]}
    check_fix(objs, finding, cni="unknown")


def test_anp_allow_decided_earlier_by_a_deny_is_no_evidence_of_a_gap() -> None:
    """A higher-priority ANP Deny takes web's egress to db first: web's own side denies
    it, so db's default deny is not the cause and nothing is reported."""
    deny = """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: no-db}
spec:
  priority: 1
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  egress:
  - name: no-db
    action: Deny
    to: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: data}}}]
"""
    objs = objects(ANP_ALLOW.replace("PEER", NARROW_PEER), DENY_ALL_NP.replace("NS", "data"),
                   deny)
    assert findings(objs, cni="unknown") == []


def test_anp_allow_under_cilium_is_not_enforced() -> None:
    """Cilium does not implement AdminNetworkPolicy: the Allow decides nothing there."""
    objs = objects(ANP_ALLOW.replace("PEER", NARROW_PEER), DENY_ALL_NP.replace("NS", "data"))
    assert findings(objs, cni="cilium") == []


def test_anp_namespaces_peer_is_broad_strict_only() -> None:
    """A `namespaces` peer admits every pod of the namespaces: a permission, told only with
    --strict, without a fix."""
    peer = "namespaces: {matchLabels: {kubernetes.io/metadata.name: data}}"
    objs = objects(ANP_ALLOW.replace("PEER", peer), DENY_ALL_NP.replace("NS", "data"))
    assert findings(objs, cni="unknown") == []
    (finding,) = findings(objs, cni="unknown", strict=True)
    assert finding.severity == "warning" and finding.fix is None
    assert finding.object.kind == "AdminNetworkPolicy"
    assert "egress rule(s) #1 of AdminNetworkPolicy web-to-db admit 2 workload(s)" \
        in finding.message


def test_banp_allow_is_evidence_where_it_decides() -> None:
    """The BANP decides only for pods no NetworkPolicy isolates: its egress Allow for web
    (not isolated) is evidence against db's default deny."""
    banp = """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  egress:
  - name: to-db
    action: Allow
    to: [{pods: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: data}},
                 podSelector: {matchLabels: {app: db}}}}]
    ports: [{portNumber: {protocol: TCP, port: 5432}}]
"""
    objs = objects(banp, DENY_ALL_NP.replace("NS", "data"))
    (finding,) = findings(objs, cni="unknown")
    # shop's two workloads are the subject: both are admitted, both dropped at db
    assert "egress of BaselineAdminNetworkPolicy default explicitly allows 2 flows that " \
           "NetworkPolicy data/default-deny denies" in finding.message
    check_fix(objs, finding, cni="unknown")


# ----- 3. what a NetworkPolicy fix opens, through the tiers -------------------------------

TIERED = """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: guard}
spec:
  priority: 3
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  egress:
  - {name: no-metrics, action: Deny, to: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: data}}}],
     ports: [{portNumber: {protocol: TCP, port: 9187}}]}
  - {name: pass-db, action: Pass, to: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: data}}}],
     ports: [{portNumber: {protocol: TCP, port: 5432}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: data}}}
  ingress:
  - {name: no-shop, action: Deny, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}]}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: no-db, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: worker}}
  egressDeny:
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: data, app: db}}]
    toPorts: [{ports: [{port: "5432", protocol: TCP}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-shop, namespace: data}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}}]
    ports: [{port: 5432}, {port: 9187}]
"""

APPENDED = {
    # db admits shop on 5432 and 9187; the ANP Deny takes 9187 first, the Pass hands 5432
    # to the NetworkPolicy tier; worker's Cilium deny rule drops its 5432 (where Cilium
    # enforces); the BANP denies data/other's ingress from shop (nothing isolates it)
    "to data on three ports": ("default-deny", "Egress", [
        {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}}}],
         "ports": [{"port": 5432}, {"port": 9187}, {"port": 8080}]}]),
    "everywhere": ("default-deny", "Egress", [{"to": [{"namespaceSelector": {}}]}]),
}


@pytest.mark.parametrize("cni", ["unknown", "calico"])
@pytest.mark.parametrize("name", sorted(APPENDED))
def test_flows_opened_by_rules_through_the_tiers(name: str, cni: str) -> None:
    """The count and the pairs a NetworkPolicy fix opens are the tiered engine's: the
    shortcut says what patching, re-parsing and the engine's diff of the edited manifests
    say (calico: the admin tiers enforced, Cilium's policies not)."""
    objs = objects(TIERED, DENY_ALL_NP.replace("NS", "shop"))
    ctx = context(objs, cni=cni)
    assert ctx.network.tiers is not None
    policy_name, direction, rules = APPENDED[name]
    policy = next(p for p in ctx.inventory.policies if p.name == policy_name)
    field = direction.lower()
    operations: list[dict[str, Any]] = [{"op": "add", "path": f"/spec/{field}", "value": rules}]
    patch = Patch(policy.ref, operations, policy.source)
    shortcut = flows_opened_by_rules(ctx.network, policy.namespace,
                                     ctx.network.selected(policy), direction,
                                     parse_rules(rules, direction))
    assert shortcut == flows_opened(ctx.network, patched_policies(ctx.inventory, [patch]))
    after = applied(objs, Fix("unsafe", "", [patch]))
    opened, closed = opened_by_diff(objs, after, cni)
    assert (set(shortcut), closed) == (opened, set())
    said = {(f.source, f.destination, f.protocol, f.port) for f in shortcut}
    web_db = ("shop/Deployment/web", "data/StatefulSet/db", "TCP")
    worker_db = ("shop/Deployment/worker", "data/StatefulSet/db", "TCP")
    assert (*web_db, 5432) in said
    assert not any(f[3] == 9187 for f in said)  # the ANP Deny takes it first
    assert ((*worker_db, 5432) in said) == (cni == "calico")  # the Cilium deny rule
    assert not any(f[1] == "data/Deployment/other" for f in said)  # the BANP


def test_a_side_with_a_toservices_rule_is_decided_at_run_time() -> None:
    """Cilium resolves `toServices` in the agent: a Service's backends may be db's pods, so
    a CNP-isolated egress with such a rule may admit at run time what its rules here deny;
    no confident finding."""
    objs = objects(DB_INGRESS_NP, WEB_EGRESS_CNP.replace(
        "- toEndpoints: [{matchLabels: {app: worker}}]",
        "- toEndpoints: [{matchLabels: {app: worker}}]\n"
        "  - toServices: [{k8sService: {serviceName: db, namespace: data}}]"))
    assert findings(objs) == []
