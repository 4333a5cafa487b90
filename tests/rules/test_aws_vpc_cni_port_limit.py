"""aws-vpc-cni-port-limit: counting as the agent does, exact merge, minimal widening."""

from __future__ import annotations

import json
from dataclasses import replace

import yaml
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.config import Settings
from netpol_fix.fixes.effect import flows_between
from netpol_fix.inventory.load import load_inventory
from netpol_fix.model.connset import ConnSet
from netpol_fix.model.findings import SAFE, UNSAFE, Flow
from netpol_fix.rules.aws_vpc_cni_port_limit import AwsVpcCniPortLimit, close_smallest_gaps
from netpol_fix.rules.context import Context
from tests.rules.helpers import context, rescan

RULE = AwsVpcCniPortLimit()

PODS = """
apiVersion: v1
kind: Pod
metadata: {name: game, namespace: play, labels: {app: game}}
spec:
  containers:
  - name: c
    ports: [{name: admin, containerPort: 9000}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: play, labels: {app: client}}
spec: {containers: [{name: c}]}
"""


def policy(ports: list[dict[str, object]], annotations: str = "") -> str:
    return PODS + f"""
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: game
  namespace: play
  {annotations}
spec:
  podSelector: {{matchLabels: {{app: game}}}}
  policyTypes: [Ingress]
  ingress:
  - from: [{{podSelector: {{matchLabels: {{app: client}}}}}}]
    ports: {json.dumps(ports)}
"""


def tcp(*ports: int) -> list[dict[str, object]]:
    return [{"port": p, "protocol": "TCP"} for p in ports]


def restored(ports: list[dict[str, object]], src: str = "play/Pod/client") -> list[Flow]:
    """The flows the agent drops today (entries past the 24th, aws/aws-network-policy-agent
    ComputeTrieValue) that an exact merge restores: every listed port is then enforced."""
    from netpol_fix.engine.cni import cni_model
    from netpol_fix.inventory.policies import parse_rules

    [rule] = parse_rules([{"ports": ports}], "Ingress")
    kept, _dropped = cni_model("aws-vpc-cni").kept_ports(rule.ports)
    gained = rule.numeric_conns() - replace(rule, ports=kept).numeric_conns()
    return flows_between(ConnSet.none(), gained, src, "play/Pod/game")


def test_25_consecutive_ports_merge_into_one_range_safely() -> None:
    ctx = context(policy(tcp(*range(7000, 7025))), cni="aws-vpc-cni")
    [finding] = RULE.check(ctx)
    assert "25 TCP" in finding.message
    assert finding.affected == ["play/Pod/game"]
    fix = finding.fix
    assert fix is not None and fix.applicability == SAFE
    replace = fix.patches[0].operations[-1]
    assert replace == {"op": "replace", "path": "/spec/ingress/0/ports",
                       "value": [{"port": 7000, "endPort": 7024, "protocol": "TCP"}]}
    assert fix.patches[0].operations[0]["op"] == "test"
    # the agent drops the 25th entry today: the merge restores exactly that port
    assert fix.opens == [Flow("play/Pod/client", "play/Pod/game", "TCP", 7024)]
    after, again = rescan(ctx, fix, RULE)
    assert again == []
    assert after.inventory.policies[0].ingress[0].numeric_conns() == ConnSet.ports("TCP", 7000, 7024)


def test_24_entries_and_duplicates_are_within_the_limit() -> None:
    ports = tcp(*range(1000, 1048, 2)) + tcp(1000, 1002)  # 24 unique, 2 duplicates
    assert list(RULE.check(context(policy(ports), cni="aws-vpc-cni"))) == []


def test_other_cni_is_not_checked() -> None:
    ctx = context(policy(tcp(*range(7000, 7030))), cni="calico")
    assert list(RULE.check(ctx)) == []


def test_limit_counts_every_protocol_of_the_peer() -> None:
    """aws/aws-network-policy-agent pkg/utils/utils.go: TRIE_VALUE_LENGTH = 288 bytes, 12
    per {protocol, start port, end port} entry, one value per peer address: 24 entries for
    all protocols together (the EKS guide's "for each protocol" undercounts)."""
    ports = tcp(*range(1000, 1040, 2)) + [{"port": p, "protocol": "UDP"}
                                          for p in range(2000, 2040, 2)]
    [finding] = RULE.check(context(policy(ports), cni="aws-vpc-cni"))
    assert "20 TCP, 20 UDP" in finding.message


def test_ranges_count_once_and_overlaps_merge() -> None:
    ports = tcp(*range(100, 150, 2)) + [{"port": 90, "endPort": 101, "protocol": "TCP"}]
    ctx = context(policy(ports), cni="aws-vpc-cni")
    [finding] = RULE.check(ctx)
    assert "26 TCP" in finding.message
    fix = finding.fix
    # 90-101 swallows 100 and touches 102: 90-102 plus 104, 106, ..., 148 = 24 entries
    assert fix is not None and fix.applicability == SAFE
    value = fix.patches[0].operations[-1]["value"]
    assert value[0] == {"port": 90, "endPort": 102, "protocol": "TCP"} and len(value) == 24
    assert fix.opens == restored(ports)
    _after, again = rescan(ctx, fix, RULE)
    assert again == []


def test_widening_closes_smallest_gaps_and_lists_each_added_port() -> None:
    # 26 isolated ports: 100, 102, ..., 148 (gap 1 each) and 200 (gap 51): two merges needed
    ports = tcp(*range(100, 150, 2), 200)
    ctx = context(policy(ports), cni="aws-vpc-cni")
    [finding] = RULE.check(ctx)
    fix = finding.fix
    assert fix is not None and fix.applicability == UNSAFE
    value = fix.patches[0].operations[-1]["value"]
    assert len(value) == 24
    assert value[0] == {"port": 100, "endPort": 104, "protocol": "TCP"}
    # the closed gaps, and the 25th and 26th entries the agent drops today
    assert fix.opens == [Flow("play/Pod/client", "play/Pod/game", "TCP", 101),
                         Flow("play/Pod/client", "play/Pod/game", "TCP", 103),
                         Flow("play/Pod/client", "play/Pod/game", "TCP", 148),
                         Flow("play/Pod/client", "play/Pod/game", "TCP", 200)]
    after, again = rescan(ctx, fix, RULE)
    assert again == []
    net_before = ctx.inventory.policies[0].ingress[0].numeric_conns()
    net_after = after.inventory.policies[0].ingress[0].numeric_conns()
    assert net_after - net_before == ConnSet.ports("TCP", 101) | ConnSet.ports("TCP", 103)


def test_close_smallest_gaps_is_minimal() -> None:
    runs = [(1, 1), (5, 5), (7, 7), (20, 20)]
    assert close_smallest_gaps(runs, 2) == [(1, 7), (20, 20)]
    assert close_smallest_gaps(runs, 4) == runs


def test_named_ports_resolve_when_pods_agree() -> None:
    ports = tcp(*range(8975, 9000)) + [{"port": "admin", "protocol": "TCP"}]
    ctx = context(policy(ports), cni="aws-vpc-cni")
    [finding] = RULE.check(ctx)
    fix = finding.fix
    assert fix is not None and fix.applicability == SAFE
    assert fix.patches[0].operations[-1]["value"] == [
        {"port": 8975, "endPort": 9000, "protocol": "TCP"}]
    assert {(f.port, f.end_port) for f in fix.opens} == {(8999, 9000)}  # dropped today


def test_named_ports_kept_when_no_pod_resolves_them() -> None:
    ports = tcp(*range(8000, 8025)) + [{"port": "metrics", "protocol": "TCP"}]
    ctx = context(policy(ports), cni="aws-vpc-cni")
    [finding] = RULE.check(ctx)
    fix = finding.fix
    assert fix is not None
    assert fix.patches[0].operations[-1]["value"] == [
        {"port": 8000, "endPort": 8024, "protocol": "TCP"},
        {"port": "metrics", "protocol": "TCP"}]
    assert "named ports left as they are" in fix.description


def test_ip_block_peer_opens_are_listed() -> None:
    text = policy(tcp(*range(100, 150, 2), 200)).replace(
        "from: [{podSelector: {matchLabels: {app: client}}}]",
        "from: [{ipBlock: {cidr: 10.0.0.0/8}}]")
    [finding] = RULE.check(context(text, cni="aws-vpc-cni"))
    assert finding.fix is not None
    assert Flow("10.0.0.0/8", "play/Pod/game", "TCP", 101) in finding.fix.opens


def test_suppressed() -> None:
    text = policy(tcp(*range(7000, 7030)),
                  'annotations: {"netpol-fix.io/ignore": "aws-vpc-cni-port-limit"}')
    assert list(RULE.check(context(text, cni="aws-vpc-cni"))) == []


def test_corpus_policies_within_limit(corpus) -> None:  # type: ignore[no-untyped-def]
    inventory = load_inventory([str(corpus / "k8s-netpol-recipes"),
                                str(corpus / "online-boutique")])
    assert inventory.policies
    assert list(RULE.check(Context(inventory, Settings(cni="aws-vpc-cni")))) == []


def test_cli(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "p.yaml"
    path.write_text(policy(tcp(*range(7000, 7030))))
    result = CliRunner().invoke(main, ["scan", "--format", "json", "--cni", "aws-vpc-cni",
                                       "--select", RULE.id, str(path)])
    assert result.exit_code == 1, result.output
    out = json.loads(result.output)
    [finding] = out["findings"]
    assert finding["rule"] == RULE.id and finding["fix"]["applicability"] == "safe"
    assert yaml.safe_load(json.dumps(finding["fix"]["patches"][0]["operations"][-1]["value"])) == [
        {"port": 7000, "endPort": 7029, "protocol": "TCP"}]


def test_safe_merge_changes_no_connection_at_all() -> None:
    """The safe fix opens nothing, computed independently: an all-pairs connectivity diff
    of the manifests before and after (named port, ranges, overlaps and two protocols)."""
    from netpol_fix.model.findings import Fix
    from tests.rules.helpers import apply_fix, connectivity_diff, docs, inventory_of

    ports = tcp(*range(7000, 7020), *range(7030, 7040)) + [
        {"port": 7015, "endPort": 7032, "protocol": "TCP"}, {"port": "admin"},
        *[{"port": p, "protocol": "UDP"} for p in range(5000, 5030)]]
    objects = docs(policy(ports))
    ctx = context(objects, cni="aws-vpc-cni")
    [finding] = RULE.check(ctx)
    fix = finding.fix
    assert fix is not None and fix.applicability == SAFE
    after = inventory_of(apply_fix(objects, Fix(SAFE, "", fix.patches)))
    _opened, closed = connectivity_diff(ctx, after)
    assert closed == set()
    # what it opens is only what the agent drops today: listed ports, nothing else
    game = next(e for e in ctx.network.endpoints if e.name == "game")
    listed = ctx.inventory.policies[0].ingress[0].conns_for(game.ports)
    for flow in fix.opens:
        assert listed.allows(flow.protocol, flow.port)


def test_widening_lists_its_ports_for_peers_the_sources_do_not_show() -> None:
    """A rule without `from` admits everyone, and a peer whose selector matches no pod of
    the sources admits pods not in them: the ports the widening adds are listed for them
    too ('any', or the peer's selectors), not only for the pods the sources hold."""
    ports = tcp(*range(100, 150, 2), 200)
    everyone = policy(ports).replace(
        "  - from: [{podSelector: {matchLabels: {app: client}}}]\n", "  - ports: PORTS\n")
    everyone = everyone.replace("    ports: " + json.dumps(ports) + "\n", "").replace(
        "PORTS", json.dumps(ports))
    [finding] = RULE.check(context(everyone, cni="aws-vpc-cni"))
    assert finding.fix is not None and finding.fix.applicability == UNSAFE
    assert {f for f in finding.fix.opens if f.source == "any"} == {
        Flow("any", "play/Pod/game", "TCP", 101), Flow("any", "play/Pod/game", "TCP", 103)}
    assert "opens " in finding.fix.description and "flow(s)" in finding.fix.description
    absent = policy(ports).replace("matchLabels: {app: client}", "matchLabels: {app: nobody}")
    [finding] = RULE.check(context(absent, cni="aws-vpc-cni"))
    assert finding.fix is not None
    assert {(f.source, f.port) for f in finding.fix.opens} == {
        ("podSelector app=nobody", 101), ("podSelector app=nobody", 103)}
