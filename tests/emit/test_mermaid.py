"""Mermaid output (netpol_fix/emit/mermaid.py): escaping, ids, the explain flowchart's
highlighted path and deciding policy, the connectivity graph, bounded change/flow graphs, and
the CLI formats. Whether Mermaid itself accepts all of it is tests/emit/test_mermaid_render.py.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.config import Settings
from netpol_fix.emit import mermaid
from netpol_fix.emit.diff import render_md
from netpol_fix.engine.connectivity import Connection
from netpol_fix.engine.diff import PairChange, diff_inventories
from netpol_fix.engine.verdict import Explainer, Query, Verdict
from netpol_fix.fixes.files import apply_plan, unified_diff
from netpol_fix.fixes.plan import build_plan
from netpol_fix.inventory.load import load_inventory
from netpol_fix.model.connset import ConnSet
from netpol_fix.model.findings import Flow
from netpol_fix.pr import body
from netpol_fix.rules.context import Context
from netpol_fix.rules.registry import RULES, run_rules
from tests.conftest import network_from_yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = str(REPO / "examples")
ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

SHOP = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: client}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: ui, namespace: client, labels: {app: ui}}
spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-frontend, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: ui}}}]
    ports: [{port: 80}]
"""
ALLOW_CLIENT = """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: client}}}]
    ports: [{port: 80}]
"""


def verdict_of(text: str, port: int = 80) -> Verdict:
    net = network_from_yaml(text)
    (src,), (dst,) = net.find("client", "ui"), net.find("shop", "web")
    return Explainer(net).explain_pods(src, dst, Query(port, "TCP"))


def nodes(chart: str) -> dict[str, str]:
    """id -> label text of every node defined in the chart."""
    found = {}
    for match in re.finditer(r'^\s+(\w+)(?:\[/|\(\[|\[|\{|\()"(.*?)"', chart, re.MULTILINE):
        found[match[1]] = match[2]
    return found


def links(chart: str) -> list[tuple[str, str, str]]:
    """(source, destination, label) of every link, in the order Mermaid numbers them."""
    return [(m[1], m[3], m[2] or "") for m in re.finditer(
        r'^\s+(\w+) (?:-->|-\.->|==>)(?:\|"(.*?)"\|)? (\w+)$', chart, re.MULTILINE)]


def taken(chart: str) -> list[tuple[str, str]]:
    """The links the chart highlights (the blue linkStyle), as (source, destination)."""
    all_links = links(chart)
    line = next(x for x in chart.splitlines() if x.strip().startswith("linkStyle"))
    indexes = line.split()[1].split(",")
    return [all_links[int(i)][:2] for i in indexes]


def classes(chart: str) -> dict[str, str]:
    out = {}
    for match in re.finditer(r"^\s+class ([\w,]+) (\w+)$", chart, re.MULTILINE):
        for ident in match[1].split(","):
            out[ident] = match[2]
    return out


# ----- escaping and ids ------------------------------------------------------------------


def test_escape_replaces_every_character_mermaid_reads_as_syntax() -> None:
    """Mermaid's flowchart docs: "Numbers given are base 10, so # can be encoded as #35;"
    and entity names such as #quot; work; a label is a quoted string, so a raw quote would
    end it, and `|` ends an edge label."""
    assert mermaid.escape('a "b" #1 <c> & `d` | e') == \
        "a #quot;b#quot; #35;1 #lt;c#gt; #amp; #96;d#96; #124; e"
    assert mermaid.escape("one\ntwo\r\nthree") == "one<br/>two<br/>three"
    assert mermaid.escape("#quot;") == "#35;quot;"  # an entity in the input stays literal
    assert mermaid.escape("[{(x)}]") == "[{(x)}]"  # brackets are fine inside quotes


def test_node_ids_are_valid_stable_and_distinct() -> None:
    names = ["shop/web[Deployment]", "shop/web-Deployment", "0.0.0.0-9.255.255.255[External]",
             "end", "{ingress-controller}", "ns/Kind/name", "", "ü/ö"]
    ids = [mermaid.node_id("w", n) for n in names]
    assert all(ID.match(i) for i in ids)
    assert len(set(ids)) == len(ids)  # slugs collide ("shop_web_Deployment"), hashes do not
    assert ids == [mermaid.node_id("w", n) for n in names]
    assert mermaid.node_id("w", "end") != "end"


# ----- explain ---------------------------------------------------------------------------


def test_explain_refused_takes_the_refused_branch() -> None:
    """A targetPort nobody exposes is refused before any policy: the chart says so where
    it decides (the symptom's `refused` branch), not on the timeout path."""
    verdict = verdict_of(SHOP)
    verdict.refused = "Service shop/web port 80 -> targetPort 8080: no container exposes it"
    chart = mermaid.explain_flowchart([verdict])
    path, kinds = taken(chart), classes(chart)
    assert ("v0_symptom", "v0_refused") in path
    assert ("v0_symptom", "v0_in_isolated") not in path
    assert kinds["v0_refused"] == "denied"
    assert "no container exposes it" in nodes(chart)["v0_refused"]


def test_explain_denied_highlights_the_ingress_denial_and_names_the_policy() -> None:
    chart = mermaid.explain_flowchart([verdict_of(SHOP)])
    labels, kinds = nodes(chart), classes(chart)
    path = taken(chart)
    assert ("v0_symptom", "v0_in_isolated") in path  # the timeout branch
    assert ("v0_symptom", "v0_refused") not in path
    assert ("v0_in_isolated", "v0_in_rules") in path
    assert ("v0_in_rules", "v0_in_denied") in path
    assert ("v0_in_rules", "v0_in_admitted") not in path
    assert ("v0_eg_isolated", "v0_eg_open") in path  # client/ui is not isolated for egress
    assert kinds["v0_in_denied"] == "denied" and kinds["v0_verdict"] == "denied"
    assert kinds["v0_in_admitted"] == "idle" and kinds["v0_refused"] == "idle"
    # the deciding policy and its rule, with the reason, at the node where it decided
    assert "shop/only-frontend ingress rule #35;1" in labels["v0_in_denied"]
    assert "pod-selector-own-namespace" in labels["v0_in_denied"]
    isolated_by = next(text for s, d, text in links(chart)
                       if (s, d) == ("v0_in_isolated", "v0_in_rules"))
    assert isolated_by == "yes: isolated by shop/only-frontend"
    assert "DENIED by the destination's ingress" in labels["v0_verdict"]


def test_explain_allowed_names_the_admitting_rule() -> None:
    chart = mermaid.explain_flowchart([verdict_of(SHOP + ALLOW_CLIENT)], cni="calico")
    labels, kinds = nodes(chart), classes(chart)
    path = taken(chart)
    assert ("v0_in_rules", "v0_in_admitted") in path
    assert ("v0_in_rules", "v0_in_denied") not in path
    assert labels["v0_in_admitted"] == "Admitted by NetworkPolicy shop/allow-client ingress " \
                                       "rule #35;1"
    assert kinds["v0_verdict"] == "allowed"
    assert labels["v0_verdict"].startswith("Verdict: ALLOWED (TCP 80)")
    assert ("v0_cni", "v0_cni_yes") in path and labels["v0_cni_yes"] == \
        "calico enforces NetworkPolicy"


def test_explain_port_not_admitted_is_denied_with_the_port_reason() -> None:
    chart = mermaid.explain_flowchart([verdict_of(SHOP + ALLOW_CLIENT, port=443)])
    label = nodes(chart)["v0_in_denied"]
    assert "shop/allow-client ingress rule #35;1: TCP 443 not in [TCP 80]" in label


def test_explain_cni_branches() -> None:
    verdict = verdict_of(SHOP)
    flannel = mermaid.explain_flowchart([verdict], cni="flannel")
    assert ("v0_cni", "v0_cni_no") in taken(flannel)
    assert classes(flannel)["v0_cni_no"] == "denied"
    unknown = mermaid.explain_flowchart([verdict], cni="auto")
    assert ("v0_cni", "v0_cni_unknown") in taken(unknown)


def test_explain_to_an_address_is_not_governed_on_ingress() -> None:
    import ipaddress

    net = network_from_yaml(SHOP)
    (src,) = net.find("shop", "web")
    verdict = Explainer(net).explain_to_address(src, ipaddress.ip_network("203.0.113.7/32"),
                                                Query(443, "TCP"))
    chart = mermaid.explain_flowchart([verdict])
    path = taken(chart)
    assert ("v0_in_isolated", "v0_in_open") in path
    assert next(t for s, d, t in links(chart) if (s, d) == ("v0_in_isolated", "v0_in_open")) \
        == "not governed"
    assert ("v0_dns", "v0_dns_none") in path  # no DnsCheck was filled in


def test_explain_several_verdicts_are_subgraphs_with_their_own_ids() -> None:
    chart = mermaid.explain_flowchart([verdict_of(SHOP), verdict_of(SHOP + ALLOW_CLIENT)])
    assert chart.count("  subgraph v") == 2
    assert "v0_in_denied" in nodes(chart) and "v1_in_admitted" in nodes(chart)
    assert ("v1_in_rules", "v1_in_admitted") in taken(chart)


def test_cli_explain_mermaid_is_built_from_the_verdict() -> None:
    args = ["explain", EXAMPLES, "--from", "shop/api", "--to", "payments/gateway",
            "--port", "8443", "--format", "mermaid"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output  # denied, as with --format text
    chart = result.stdout
    assert chart.startswith("flowchart TD\n")
    path = taken(chart)
    assert ("v0_in_rules", "v0_in_denied") in path
    assert ("v0_dns", "v0_dns_denied") in path  # shop's default-deny blocks DNS
    assert "namespace-selector-unmatched" in nodes(chart)["v0_in_denied"]
    with_fix = CliRunner().invoke(main, [*args, "--fix"])
    fix = nodes(with_fix.stdout)["v0_fix"]
    assert fix.startswith("Fix (") and "opens shop/Deployment/api -#gt; payments/" in fix


# ----- graphs ----------------------------------------------------------------------------


def test_connectivity_graph_namespaces_edges_and_external_nodes() -> None:
    result = CliRunner().invoke(main, ["connectivity", EXAMPLES, "--format", "mermaid"])
    assert result.exit_code == 0, result.output
    chart = result.stdout
    text = CliRunner().invoke(main, ["connectivity", EXAMPLES]).stdout.splitlines()
    assert len(links(chart)) == len(text)  # one edge per allowed pair
    labels = nodes(chart)
    for line in text:
        pair, conns = line.split(" : ")
        src, dst = pair.split(" => ")
        s, d = mermaid.endpoint(src), mermaid.endpoint(dst)
        sid = mermaid.node_id("x" if s.external else "w", src)
        did = mermaid.node_id("x" if d.external else "w", dst)
        assert (sid, did, conns) in links(chart)
        assert labels[sid] == s.label and labels[did] == d.label
    assert re.search(r'subgraph ns_shop_\w+\["namespace shop"\]', chart)
    assert '(["198.51.100.0-198.51.100.255"])' in chart
    assert "class x_" in chart and " external" in chart


def test_endpoint_notations() -> None:
    assert mermaid.endpoint("shop/web[Deployment]") == \
        mermaid.Endpoint("shop/web[Deployment]", "shop", "web[Deployment]")
    assert mermaid.endpoint("shop/Deployment/web").label == "web[Deployment]"
    assert mermaid.endpoint("kube-system/k8s-app=kube-dns").namespace == "kube-system"
    assert mermaid.endpoint("10.0.0.0/8").external
    assert mermaid.endpoint("1.2.3.0-1.2.3.255[External]").label == "1.2.3.0-1.2.3.255"
    assert mermaid.endpoint("{ingress-controller}").external


def test_change_graph_is_bounded_with_a_count_of_the_rest() -> None:
    changes = [PairChange("removed", f"shop/w{i}[Deployment]", "db/pg[StatefulSet]",
                          ConnSet.ports("TCP", 5432), ConnSet.none()) for i in range(45)]
    chart = mermaid.changes_graph(changes)
    assert len(links(chart)) == mermaid.MAX_EDGES
    assert "#8230; and 5 more pair(s)" in chart
    assert all(label == "- TCP 5432" for _s, _d, label in links(chart))
    assert " -.->" in chart  # removed pairs are dashed
    assert len(links(mermaid.changes_graph(changes[:3]))) == 3
    assert "more pair" not in mermaid.changes_graph(changes[:3])


def test_changed_pair_shows_gained_and_lost() -> None:
    change = PairChange("changed", "a/x[Pod]", "b/y[Pod]", ConnSet.ports("TCP", 80),
                        ConnSet.ports("TCP", 443))
    edge = mermaid.change_edge(change)
    assert edge.label == "+ TCP 443\n- TCP 80" and edge.style == "changed"


def test_diff_md_carries_the_picture_of_the_changed_pairs(tmp_path: Path) -> None:
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    fixed = str(tmp_path / "examples")
    assert CliRunner().invoke(main, ["fix", fixed, "--unsafe-fixes"]).exit_code in (0, 1)
    old, new = load_inventory([EXAMPLES]), load_inventory([fixed])
    assert "```mermaid" not in render_md(diff_inventories(old, old))  # nothing to draw
    changed = diff_inventories(old, new)
    assert changed.changes
    md = render_md(changed)
    block = md.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block == mermaid.changes_graph(changed.changes)
    assert len(links(block)) == min(len(changed.changes), mermaid.MAX_EDGES)


def test_pr_body_draws_the_flows_the_fixes_open(tmp_path: Path) -> None:
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    inventory = load_inventory([str(tmp_path / "examples")])
    findings = run_rules(Context(inventory, Settings()), list(RULES.values()))
    plan = build_plan(findings, unsafe=True)
    text = body.render(plan.applied, unified_diff(apply_plan(plan)), "main", ["examples"])
    block = text.body.split("```mermaid\n", 1)[1].split("```", 1)[0]
    flows = [flow for _f, fx in plan.applied for flow in fx.opens]
    pairs = {(f.source, f.destination) for f in flows}
    drawn = links(block)
    assert len(drawn) == min(len(pairs), mermaid.MAX_EDGES)
    for flow in flows:
        s, d = mermaid.endpoint(flow.source), mermaid.endpoint(flow.destination)
        sid = mermaid.node_id("x" if s.external else "w", flow.source)
        did = mermaid.node_id("x" if d.external else "w", flow.destination)
        label = next(lbl for a, b, lbl in drawn if (a, b) == (sid, did))
        assert flow.connections in label


def test_flows_graph_merges_a_pair_and_is_bounded() -> None:
    flows = [Flow("shop/Deployment/api", "kube-system/k8s-app=kube-dns", p, 53)
             for p in ("UDP", "TCP")]
    chart = mermaid.flows_graph(flows)
    assert [label for *_ids, label in links(chart)] == ["UDP 53, TCP 53"]
    many = [Flow(f"a/Pod/p{i}", "203.0.113.0/24", "TCP", 443) for i in range(50)]
    chart = mermaid.flows_graph(many)
    assert len(links(chart)) == 40 and "and 10 more flow(s) opened" in chart
    assert '(["203.0.113.0/24"])' in chart


def test_connection_labels_are_escaped() -> None:
    chart = mermaid.connectivity_graph([Connection('a/"x"[Pod]', "b/y#1[Pod]", ConnSet.all())])
    assert 'x#quot;[Pod]"]' in chart and "y#35;1[Pod]" in chart


def test_pr_body_with_the_picture_stays_within_githubs_limit(tmp_path: Path) -> None:
    """GitHub refuses a pull request body over 65,536 characters: the picture takes its
    room from the diff, which is cut first."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    findings = run_rules(Context(load_inventory([str(tmp_path / "examples")]), Settings()),
                         list(RULES.values()))
    applied = build_plan(findings, unsafe=True).applied
    applied[0][1].opens.extend(
        Flow(f"tenant-{i:03}/Deployment/a-rather-long-workload-name-{i:03}",
             f"platform-{i:03}/StatefulSet/another-long-name-{i:03}", "TCP", 1000 + i, 2000 + i)
        for i in range(60))
    text = body.render(applied, "+" * 200_000, "main", ["examples"])
    assert "```mermaid" in text.body and "diff truncated" in text.body
    assert len(text.body) <= 65_536
