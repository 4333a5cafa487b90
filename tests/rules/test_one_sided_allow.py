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


MIRROR = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: data}},
          podSelector: {matchLabels: {app: db}}}]
    ports: [{port: 6379}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: data}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""


def test_mirror_egress_allows_ingress_denies() -> None:
    """Egress names db narrowly (namespace by name, app label); data's default-deny
    isolates db for ingress. The default-deny selects every pod of data (`{}`), so the
    ingress rule goes into a new policy for db only, never into the default-deny."""
    ctx = context(PODS + MIRROR)
    [finding] = RULE.check(ctx)
    assert (finding.object.name, finding.affected) == ("deny", ["data/Pod/db", "shop/Pod/web"])
    assert finding.severity == "error"
    fix = finding.fix
    assert fix is not None and fix.patches == []
    [new] = fix.creates
    assert new.obj["metadata"]["name"] == "db-allow-ingress"
    assert new.obj["spec"] == {
        "podSelector": {"matchLabels": {"app": "db", "tier": "storage"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "shop"}},
            "podSelector": {"matchLabels": {"app": "web"}}}],
            "ports": [{"port": 6379}]}]}
    assert fix.opens == [Flow("shop/Pod/web", "data/Pod/db", "TCP", 6379)]
    _, again = rescan(ctx, fix, RULE)
    assert again == []


def test_one_workload_under_an_empty_selector_still_gets_its_own_policy() -> None:
    """Issue 13: `podSelector: {}` selects every future pod of the namespace, even when
    only db lives there today, so the flow-specific rule goes into a policy for db."""
    only_db = PODS.replace("name: cache, namespace: data", "name: cache, namespace: other")
    [finding] = RULE.check(context(only_db + MIRROR))
    assert finding.fix is not None and finding.fix.patches == []
    assert [c.obj["metadata"]["name"] for c in finding.fix.creates] == ["db-allow-ingress"]


def test_broad_peer_is_a_permission_not_evidence() -> None:
    """`tier: storage` names a class of pods: an egress rule to it is a permission. That
    data's ingress denies it is no error; with strict, one warning for web-egress, no fix."""
    broad = MIRROR.replace("podSelector: {matchLabels: {app: db}}",
                           "podSelector: {matchLabels: {tier: storage}}")
    assert list(RULE.check(context(PODS + broad))) == []
    [warning] = RULE.check(context(PODS + broad, strict=True))
    assert (warning.severity, warning.object.name, warning.fix) == ("warning", "web-egress", None)
    assert "admit 2 workload(s) by a broad selector" in warning.message
    assert "TCP 6379 from shop/web[Pod] to data/cache[Pod]" in warning.message


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
    assert "clients-egress would give them all the same rules" in fix.description
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


WEB_TO_DB = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: data}},
          podSelector: {matchLabels: {app: db}}}]
    ports: [{port: 5432}]
"""


def db_policy(spec: str) -> str:
    return f"""
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: db, namespace: data}}
spec:
  podSelector: {{matchLabels: {{app: db}}}}
{spec}"""


SPECIFIC_CAUSES = {
    # the peer meant shop, whose Namespace has no `team` label
    "namespace-selector-unmatched": db_policy("""  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: shop}},
            podSelector: {matchLabels: {app: web}}}]
"""),
    # a podSelector alone looks in data only
    "pod-selector-own-namespace": db_policy("""  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
"""),
    # egress-only in intent, but the API defaults policyTypes to [Ingress, Egress]
    "policy-types-missing": db_policy("""  egress:
  - to: [{podSelector: {matchLabels: {app: cache}}}]
"""),
    # data's default-deny isolates db; db's ingress rules are ignored
    "ingress-rules-ignored": db_policy("""  policyTypes: [Egress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}},
            podSelector: {matchLabels: {app: web}}}]
""") + """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: data}
spec: {podSelector: {}, policyTypes: [Ingress]}
""",
}


def test_a_specific_cause_is_one_finding_not_two() -> None:
    """Issue 13, one cause one finding: when a specific rule explains why the other side
    denies the flow, one-sided-allow does not report it again (the specific rule's fix
    corrects the cause); when that rule does not run, one-sided-allow still reports it."""
    from netpol_fix.rules.registry import RULES, run_rules

    for rule_id, policy in SPECIFIC_CAUSES.items():
        ctx = context(PODS + WEB_TO_DB + policy)
        found = {f.rule for f in run_rules(ctx, RULES.values())}
        assert rule_id in found and RULE.id not in found, (rule_id, found)
        alone = context(PODS + WEB_TO_DB + policy)
        assert [f.rule for f in run_rules(alone, [RULE])] == [RULE.id], rule_id


def test_dns_lookups_are_missing_dns_egress_findings() -> None:
    """The DNS pods' ingress admits web by name, web's egress denies DNS: that is
    missing-dns-egress's finding (its fix is the DNS rule), not a one-sided allow too."""
    from netpol_fix.rules.registry import RULES, run_rules

    dns = """
---
apiVersion: v1
kind: Pod
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec: {containers: [{name: c, ports: [{containerPort: 53, protocol: UDP}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: dns-in, namespace: kube-system}
spec:
  podSelector: {matchLabels: {k8s-app: kube-dns}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}},
            podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
"""
    ctx = context(PODS + WEB_DENY_EGRESS.replace("ANNOTATIONS", "labels: {}") + dns)
    found = [f.rule for f in run_rules(ctx, RULES.values())]
    assert "missing-dns-egress" in found and RULE.id not in found, found


def many_clients(n: int) -> str:
    """`n` client pods in shop, all admitted by db's ingress by name, all denied by shop's
    default-deny egress: one finding whose fix opens n pairs (client -> db)."""
    pods = "".join(f"""
---
apiVersion: v1
kind: Pod
metadata: {{name: c{i:02d}, namespace: shop, labels: {{app: c{i:02d}}}}}
spec: {{containers: [{{name: c}}]}}""" for i in range(n))
    names = ", ".join(f"c{i:02d}" for i in range(n))
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: db, namespace: data, labels: {{app: db}}}}
spec: {{containers: [{{name: c, ports: [{{containerPort: 5432}}]}}]}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: db, namespace: data}}
spec:
  podSelector: {{matchLabels: {{app: db}}}}
  policyTypes: [Ingress]
  ingress:
  - from: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: shop}}}},
            podSelector: {{matchExpressions: [{{key: app, operator: In, values: [{names}]}}]}}}}]
    ports: [{{port: 5432}}, {{port: 6000, protocol: UDP}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: default-deny, namespace: shop}}
spec: {{podSelector: {{}}, policyTypes: [Egress]}}
""" + pods


def test_opens_lists_the_first_pairs_and_counts_them_all_exactly() -> None:
    """Issue 16: a fix opening 25 pairs lists the flows of the first 20 (in the order flows
    are listed), says 25, and gives every flow on demand; the count and the complete list
    equal patch + re-parse + an all-pairs connectivity diff."""
    from netpol_fix.inventory.build import build_inventory
    from tests.rules.helpers import apply_fix_to_sources, connectivity_diff

    ctx = context(many_clients(25))
    [finding] = RULE.check(ctx)
    fix = finding.fix
    assert fix is not None and len(fix.creates) == 25
    opened, closed = connectivity_diff(ctx, build_inventory(apply_fix_to_sources(ctx, fix)))
    assert closed == set()
    assert sorted(opened, key=str) == sorted(fix.complete_opens(), key=str)
    pairs = sorted({(f.source, f.destination) for f in opened})
    assert fix.pairs == len(pairs) == 25
    assert fix.listed_pairs == 20
    assert {(f.source, f.destination) for f in fix.opens} == set(pairs[:20])
    assert len(fix.opens) == 40  # TCP 5432 and UDP 6000 per pair
    assert fix.opens_summary()["pairs"] == 25
    assert fix.opens_rules[0] == ("from pods app=c00 in namespace shop to pods app=db in "
                                  "namespace data on TCP 5432, UDP 6000")
    # --all-opens: every pair listed
    every = RULE.check(context(many_clients(25), all_opens=True))[0].fix  # type: ignore[index]
    assert every is not None and every.listed_pairs == every.pairs == 25
    assert set(every.opens) == opened


def test_json_and_sarif_carry_the_count_and_the_listed_pairs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "m.yaml"
    path.write_text(many_clients(22))
    result = CliRunner().invoke(main, ["scan", "--format", "json", "--select", RULE.id,
                                       str(path)])
    [finding] = json.loads(result.stdout)["findings"]
    summary = finding["fix"]["opensSummary"]
    assert (summary["pairs"], summary["listedPairs"]) == (22, 20)
    assert len({(f["from"], f["to"]) for f in finding["fix"]["opens"]}) == 20
    result = CliRunner().invoke(main, ["scan", "--format", "sarif", "--select", RULE.id,
                                       str(path)])
    [sarif] = json.loads(result.stdout)["runs"][0]["results"]
    assert sarif["properties"]["fixOpensSummary"] == summary
    assert len(sarif["properties"]["fixOpens"]) == 40
    result = CliRunner().invoke(main, ["scan", "--select", RULE.id, str(path)])
    assert "opens 22 workload pair(s)" in result.stdout
    assert "... and 2 more pair(s) (--all-opens lists them)" in result.stdout
    result = CliRunner().invoke(main, ["scan", "--all-opens", "--format", "json",
                                       "--select", RULE.id, str(path)])
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["fix"]["opensSummary"]["listedPairs"] == 22


def test_without_traced_messages_only_the_reason_is_left_out() -> None:
    """`fix` shows no finding message (Context.traced_messages False): the finding and its
    fix are the same, the message only lacks the trace of the denying side."""
    traced = list(RULE.check(context(text())))
    ctx = context(text())
    ctx.traced_messages = False
    plain = list(RULE.check(ctx))
    assert len(traced) == len(plain) == 1
    full, short = traced[0], plain[0]
    assert full.message.startswith(short.message) and full.message != short.message
    assert "egress rule #1" in full.message and "egress rule #1" not in short.message
    assert (full.rule, full.object, full.affected) == (short.rule, short.object, short.affected)
    assert full.fix is not None and short.fix is not None
    assert full.fix.to_json() == short.fix.to_json()
