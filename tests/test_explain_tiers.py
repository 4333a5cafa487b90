"""`explain` through the admin tiers: the chain, file:line of the deciding rules, JSON
`tiers`, and verdicts that agree with `connectivity` on every pair of the corpus sets."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.engine.connectivity import ConnectivityAnalysis
from netpol_fix.engine.network import Network
from netpol_fix.engine.verdict import Explainer, Query
from netpol_fix.inventory.load import load_inventory
from tests.corpus_path import corpus_path

ANP = corpus_path("netpol-analyzer-anp") / "tests"


def test_chain_pass_then_baseline_deny() -> None:
    """netpol-analyzer's anp_banp_blog_demo explain golden: "AdminNetworkPolicy
    'pass-monitoring' passes connections by Ingress rule pass-ingress-from-monitoring",
    then "BaselineAdminNetworkPolicy 'default' denies connections by Ingress rule
    deny-ingress-from-all-namespaces"."""
    result = CliRunner().invoke(main, ["explain", str(ANP / "anp_banp_blog_demo"), "--from",
                                       "monitoring/mymonitoring", "--to", "bar/mybar",
                                       "--port", "80"])
    assert result.exit_code == 1, result.output
    assert ("chain: [ANP pass-monitoring, priority 7] Pass -> [NetworkPolicy] none selects: "
            "no policy isolates bar/mybar[Pod] for ingress -> [BANP default] Deny"
            ) in result.stdout
    assert "policies.yaml:67)" in result.stdout and "policies.yaml:28)" in result.stdout


def test_chain_reaches_the_networkpolicy_and_not_the_baseline() -> None:
    """"NetworkPolicy 'foo/allow-monitoring' selects foo/myfoo[Pod], but bar/mybar[Pod] is
    not allowed by any Ingress rule"; the BANP is not reached."""
    result = CliRunner().invoke(main, ["explain", str(ANP / "anp_banp_blog_demo"), "--from",
                                       "bar/mybar", "--to", "foo/myfoo", "--port", "80",
                                       "-o", "json"])
    assert result.exit_code == 1
    steps = json.loads(result.stdout)["ingress"]["tiers"]
    assert [(s["tier"], s["decision"]) for s in steps] == [
        ("Admin", "no rule matches"), ("NetworkPolicy", "denied"), ("Baseline", "not reached")]
    assert steps[1]["subject"] == "NetworkPolicy foo/allow-monitoring"


SETS = ["anp_banp_blog_demo", "anp_test_multiple_anps", "anp_np_banp_core_test",
        "anp_test_ingress_egress_intersection", "anp_banp_test_with_named_port_matched"]


@pytest.mark.parametrize("name", SETS)
def test_explain_agrees_with_connectivity_on_every_pair(name: str) -> None:
    """Every pair and a few ports: explain's verdict is what connectivity lists."""
    network = Network(load_inventory([str(ANP / name)]), host_network_as_pods=True)
    listed = {(c.src, c.dst): c.conns for c in ConnectivityAnalysis(network).connections(False)}
    explainer = Explainer(network)
    checked = 0
    for s, source in enumerate(network.endpoints):
        for d, target in enumerate(network.endpoints):
            if s == d:
                continue
            conns = listed.get((source.key, target.key))
            for protocol, port in (("TCP", 80), ("UDP", 53), ("TCP", 8080), ("SCTP", 9003)):
                verdict = explainer.explain_pods(s, d, Query(port, protocol))
                expected = conns is not None and conns.allows(protocol, port)
                assert verdict.allowed == expected, (source.key, target.key, protocol, port)
                checked += 1
    assert checked >= 8
