"""one-sided-allow: an explicit allow on one side, a denial on the other."""

from __future__ import annotations

import json

from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.config import Settings
from netpol_fix.inventory.load import load_inventory
from netpol_fix.model.findings import UNSAFE, Flow
from netpol_fix.rules.context import Context
from netpol_fix.rules.one_sided_allow import OneSidedAllow
from tests.rules.helpers import context, objects_from_yaml, rescan

RULE = OneSidedAllow()

PODS = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: data, labels: {app: db, tier: storage}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: cache, namespace: data, labels: {app: cache, tier: storage}}
spec: {containers: [{name: c}]}
"""

DB_INGRESS = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: data}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}
      podSelector: {matchLabels: {app: web}}
    ports: [{port: 5432}, {port: 5433}]
"""

WEB_DENY_EGRESS = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: shop, ANNOTATIONS}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: web}}}]
"""


def text(annotations: str = "labels: {}") -> str:
    return PODS + DB_INGRESS + WEB_DENY_EGRESS.replace("ANNOTATIONS", annotations)


def test_ingress_allows_egress_denies() -> None:
    ctx = context(text())
    [finding] = RULE.check(ctx)
    assert finding.object.name == "web-egress"
    assert finding.affected == ["shop/Pod/web", "data/Pod/db"]
    assert "TCP 5432-5433" in finding.message and "NetworkPolicy data/db" in finding.message
    assert "egress rule #1" in finding.message  # the explainer's reason
    fix = finding.fix
    assert fix is not None and fix.applicability == UNSAFE
    assert fix.patches[0].operations[-1] == {
        "op": "add", "path": "/spec/egress/-",
        "value": {"to": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "data"}},
            "podSelector": {"matchLabels": {"app": "db"}}}],
            "ports": [{"port": 5432}, {"port": 5433}]}}
    assert fix.opens == [Flow("shop/Pod/web", "data/Pod/db", "TCP", 5432, 5433)]
    _, again = rescan(ctx, fix, RULE)
    assert again == []


def test_one_finding_per_policy_and_peer_not_per_port() -> None:
    ctx = context(text().replace("ports: [{port: 5432}, {port: 5433}]",
                                 "ports: [{port: 5432}, {port: 6000, protocol: UDP}]"))
    assert len(list(RULE.check(ctx))) == 1


def test_mirror_egress_allows_ingress_denies() -> None:
    policies = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: data}},
          podSelector: {matchLabels: {tier: storage}}}]
    ports: [{port: 6379}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: data}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""
    ctx = context(PODS + policies)
    findings = list(RULE.check(ctx))
    # one finding per (policy to edit, peer workload): both data pods lack the same rule
    assert [(f.object.name, f.affected) for f in findings] == [
        ("deny", ["data/Pod/cache", "data/Pod/db", "shop/Pod/web"])]
    fix = findings[0].fix
    assert fix is not None
    assert fix.patches[0].operations[-1] == {"op": "add", "path": "/spec/ingress", "value": [{
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}},
                  "podSelector": {"matchLabels": {"app": "web"}}}],
        "ports": [{"port": 6379}]}]}
    # "deny" selects every pod of data: the new rule admits web to both, as opens says
    assert fix.opens == [Flow("shop/Pod/web", "data/Pod/cache", "TCP", 6379),
                         Flow("shop/Pod/web", "data/Pod/db", "TCP", 6379)]
    _, again = rescan(ctx, fix, RULE)
    assert again == []


def test_both_sides_agree_no_finding() -> None:
    allow = """
  - to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}]
    ports: [{port: 5432}, {port: 5433}]
"""
    assert list(RULE.check(context(text() + allow))) == []


def test_all_peers_rule_is_not_explicit() -> None:
    open_ingress = DB_INGRESS.replace("""  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}
      podSelector: {matchLabels: {app: web}}
""", "  - from: [{namespaceSelector: {}}]\n")
    assert list(RULE.check(context(PODS + open_ingress + WEB_DENY_EGRESS.replace(
        "ANNOTATIONS", "labels: {}")))) == []


def test_source_not_isolated_is_fine() -> None:
    assert list(RULE.check(context(PODS + DB_INGRESS))) == []


def test_suppressed() -> None:
    ctx = context(text('annotations: {"netpol-fix.io/ignore": "one-sided-allow"}'))
    assert list(RULE.check(ctx)) == []


def test_corpus_policies_written_on_both_sides(corpus) -> None:  # type: ignore[no-untyped-def]
    for name in ("online-boutique", "kube-prometheus"):
        inventory = load_inventory([str(corpus / name)])
        assert inventory.policies
        assert list(RULE.check(Context(inventory, Settings()))) == []


def test_corpus_recipe_with_own_default_deny_egress(corpus) -> None:  # type: ignore[no-untyped-def]
    """Recipe 02 (api admits app=bookstore pods) next to a default-deny egress of ours."""
    recipe = corpus / "k8s-netpol-recipes/extracted/02-limit-traffic-to-an-application.1.yaml"
    ours = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: default}
spec: {podSelector: {}, policyTypes: [Egress]}
---
apiVersion: v1
kind: Pod
metadata: {name: shelf, namespace: default, labels: {app: bookstore, role: shelf}}
spec: {containers: [{name: c}]}
"""
    ctx = context(objects_from_yaml(recipe.read_text(), str(recipe)) + objects_from_yaml(ours))
    [finding] = RULE.check(ctx)
    assert finding.object.name == "deny-egress"
    assert finding.affected == ["default/Pod/shelf", "default/[app=bookstore,role=api]"]
    assert finding.fix is not None
    # the default-deny selects every pod of the namespace: a rule appended there would let
    # the api pods reach themselves too, so the fix is a policy for shelf's pods only
    assert finding.fix.patches == []
    [new] = finding.fix.creates
    assert new.after is not None and new.after.obj["metadata"]["name"] == "deny-egress"
    assert new.obj == {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "shelf-allow-egress", "namespace": "default"},
        "spec": {"podSelector": {"matchLabels": {"app": "bookstore", "role": "shelf"}},
                 "policyTypes": ["Egress"],
                 "egress": [{"to": [{
                     "namespaceSelector": {
                         "matchLabels": {"kubernetes.io/metadata.name": "default"}},
                     "podSelector": {"matchLabels": {"app": "bookstore", "role": "api"}}}]}]}}
    assert [str(flow) for flow in finding.fix.opens] == [
        "default/Pod/shelf -> default/[app=bookstore,role=api] all connections"]
    _, again = rescan(ctx, finding.fix, RULE)
    assert again == []


def test_cli(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "np.yaml"
    path.write_text(text())
    result = CliRunner().invoke(main, ["scan", "--format", "json", "--cni", "calico",
                                       "--select", RULE.id, str(path)])
    assert result.exit_code == 1, result.output
    [finding] = json.loads(result.output)["findings"]
    assert finding["fix"]["opens"] == [{"from": "shop/Pod/web", "to": "data/Pod/db",
                                        "protocol": "TCP", "port": 5432, "endPort": 5433}]


def ingress_from_web(name: str, selector: str, port: int) -> str:
    """A policy in `data` admitting shop's web pods on one port."""
    return f"""
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: data}}
spec:
  podSelector: {{matchLabels: {{{selector}}}}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: shop}}}}
      podSelector: {{matchLabels: {{app: web}}}}
    ports: [{{port: {port}}}]
"""


CACHE_INGRESS = ingress_from_web("cache", "app: cache", 6379)
STORAGE_INGRESS = ingress_from_web("storage", "tier: storage", 7000)


def test_gaps_of_one_policy_to_edit_make_one_finding_with_one_rule_each() -> None:
    """Two allowing policies: one finding on web's egress policy, two rules, and the fix
    opens exactly the two flows the other sides allow."""
    ctx = context(PODS + DB_INGRESS + CACHE_INGRESS
                  + WEB_DENY_EGRESS.replace("ANNOTATIONS", "labels: {}"))
    [finding] = RULE.check(ctx)
    assert finding.object.name == "web-egress"
    assert "2 flows" in finding.message
    assert "TCP 5432-5433 from shop/web[Pod] to data/db[Pod]" in finding.message
    assert "TCP 6379 from shop/web[Pod] to data/cache[Pod]" in finding.message
    fix = finding.fix
    assert fix is not None
    added = [op["value"] for op in fix.patches[0].operations if op["op"] == "add"]
    assert [rule["to"][0]["podSelector"] for rule in added] == [
        {"matchLabels": {"app": "cache"}}, {"matchLabels": {"app": "db"}}]
    assert set(fix.opens) == {
        Flow("shop/Pod/web", "data/Pod/cache", "TCP", 6379),
        Flow("shop/Pod/web", "data/Pod/db", "TCP", 5432, 5433)}
    _, again = rescan(ctx, fix, RULE)
    assert again == []


def test_rules_on_the_same_ports_become_one_rule_with_their_peers() -> None:
    """db and cache both admit web on 6379: one egress rule to both peers, opening the
    same two flows two rules would."""
    ctx = context(PODS + ingress_from_web("db", "app: db", 6379) + CACHE_INGRESS
                  + WEB_DENY_EGRESS.replace("ANNOTATIONS", "labels: {}"))
    [finding] = RULE.check(ctx)
    fix = finding.fix
    assert fix is not None
    added = [op["value"] for op in fix.patches[0].operations if op["op"] == "add"]
    assert added == [{"to": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}},
         "podSelector": {"matchLabels": {"app": "cache"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}},
         "podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"port": 6379}]}]
    assert "append 1 egress rule(s)" in fix.description
    assert set(fix.opens) == {Flow("shop/Pod/web", "data/Pod/cache", "TCP", 6379),
                              Flow("shop/Pod/web", "data/Pod/db", "TCP", 6379)}
    _, again = rescan(ctx, fix, RULE)
    assert again == []


def test_allowing_policy_selecting_several_pods_needs_one_rule() -> None:
    """`tier: storage` selects db and cache: the egress rule naming that selector serves
    both, so it is added once."""
    ctx = context(PODS + STORAGE_INGRESS + WEB_DENY_EGRESS.replace("ANNOTATIONS", "labels: {}"))
    [finding] = RULE.check(ctx)
    fix = finding.fix
    assert fix is not None
    added = [op["value"] for op in fix.patches[0].operations if op["op"] == "add"]
    assert added == [{"to": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "data"}},
        "podSelector": {"matchLabels": {"tier": "storage"}}}], "ports": [{"port": 7000}]}]
    assert set(fix.opens) == {Flow("shop/Pod/web", "data/Pod/cache", "TCP", 7000),
                              Flow("shop/Pod/web", "data/Pod/db", "TCP", 7000)}


TWO_CLIENTS = """
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: shop, labels: {app: a}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: shop, labels: {app: b}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: clients-egress, namespace: shop}
spec:
  podSelector: {matchExpressions: [{key: app, operator: In, values: [a, b]}]}
  policyTypes: [Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: a}}}]
    ports: [{port: 80}]
  - from: [{podSelector: {matchLabels: {app: b}}}]
    ports: [{port: 443}]
"""


def test_clients_needing_different_ports_get_a_policy_each() -> None:
    """One policy isolates a and b, db admits a on 80 and b on 443. A rule appended to the
    shared policy would give both clients both ports, and db's ingress would deny the extra
    ones: a new one-sided gap after the fix. So each client gets its own policy, the fix
    opens exactly the two flows, and a second scan finds nothing."""
    ctx = context(TWO_CLIENTS)
    [finding] = RULE.check(ctx)
    assert finding.object.name == "clients-egress"
    fix = finding.fix
    assert fix is not None and fix.patches == []
    assert [(c.obj["metadata"]["name"], c.obj["spec"]["podSelector"],
             c.obj["spec"]["egress"][0]["ports"]) for c in fix.creates] == [
        ("a-allow-egress", {"matchLabels": {"app": "a"}}, [{"port": 80}]),
        ("b-allow-egress", {"matchLabels": {"app": "b"}}, [{"port": 443}])]
    assert fix.opens == [Flow("shop/Pod/a", "shop/Pod/db", "TCP", 80),
                         Flow("shop/Pod/b", "shop/Pod/db", "TCP", 443)]
    assert "clients-egress selects more" in fix.description
    _, again = rescan(ctx, fix, RULE)
    assert again == []


def test_new_policy_name_avoids_an_existing_one() -> None:
    taken = TWO_CLIENTS + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-allow-egress, namespace: shop}
spec: {podSelector: {matchLabels: {app: nothing}}, policyTypes: [Ingress]}
"""
    [finding] = RULE.check(context(taken))
    assert finding.fix is not None
    assert [c.obj["metadata"]["name"] for c in finding.fix.creates] == [
        "a-allow-egress-2", "b-allow-egress"]


def test_clients_needing_the_same_rules_share_the_policy_that_selects_just_them() -> None:
    """When the policy selects exactly the affected pods and they need the same rules,
    appending to it is exact."""
    same = TWO_CLIENTS.replace("ports: [{port: 443}]", "ports: [{port: 80}]")
    [finding] = RULE.check(context(same))
    fix = finding.fix
    assert fix is not None and fix.creates == []
    [patch] = fix.patches
    assert patch.object.name == "clients-egress"
    assert {f.source for f in fix.opens} == {"shop/Pod/a", "shop/Pod/b"}


def test_two_workloads_of_one_name_get_two_policy_names() -> None:
    """A Deployment and a StatefulSet may share a name: their new policies may not."""
    same_name = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web-d}}
  template: {metadata: {labels: {app: web-d}}, spec: {containers: [{name: c}]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web-s}}
  template: {metadata: {labels: {app: web-s}}, spec: {containers: [{name: c}]}}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: shop}
spec: {podSelector: {}, policyTypes: [Egress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchExpressions: [{key: app, operator: In, values: [web-d, web-s]}]}}]
    ports: [{port: 5432}]
"""
    ctx = context(same_name)
    [finding] = RULE.check(ctx)
    assert finding.fix is not None
    assert sorted(c.obj["metadata"]["name"] for c in finding.fix.creates) == [
        "web-allow-egress", "web-allow-egress-2"]
    _, again = rescan(ctx, finding.fix, RULE)
    assert again == []
