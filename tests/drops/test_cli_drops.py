"""`netpol-fix drops` end to end: formats, --fix --dry-run, usage errors, the real
samples of the corpus."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from tests.corpus_path import corpus_path
from tests.drops.helpers import endpoint, hubble
from tests.drops.test_explain import API, DNS, SHOP, WEB

MINIKUBE = corpus_path("cilium/examples/minikube")


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["drops", *args], input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, lines: list[str]) -> tuple[str, str]:
    (tmp_path / "repo").mkdir(exist_ok=True)
    (tmp_path / "repo" / "shop.yaml").write_text(SHOP)
    (tmp_path / "flows.json").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "repo"), str(tmp_path / "flows.json")


MIXED = [hubble(src=WEB, dst=API, port=8080)] * 3 + \
    [hubble(src=WEB, dst=DNS, port=53, protocol="UDP")] * 2


def test_text_one_block_per_group_most_frequent_first(tmp_path: Path) -> None:
    repo, flows = write(tmp_path, MIXED)
    code, out, _ = invoke(repo, "--flows", flows)
    assert code == 1
    blocks = out.split("\n\n")
    assert blocks[0].startswith("DROPPED x3  shop/web[Deployment] -> shop/api[Deployment] "
                                "TCP 8080 (egress, POLICY_DENIED)")
    assert "causes: one-sided-allow" in blocks[0]
    assert f"policy: NetworkPolicy shop/default-deny ({repo}/shop.yaml:6)" in blocks[0]
    assert "fix (unsafe): add the narrowest rule(s) admitting TCP 8080" in blocks[0]
    assert blocks[1].startswith("DROPPED x2  shop/web[Deployment] -> "
                                "kube-system/coredns[Deployment] UDP 53")
    assert out.rstrip().endswith("2 group(s) of 5 dropped flow(s): 2 explained by the "
                                 "sources; 0 forwarded flow(s) counted.")


def test_json_has_the_issue_shape(tmp_path: Path) -> None:
    repo, flows = write(tmp_path, MIXED)
    _, out, _ = invoke(repo, "--flows", flows, "--format", "json")
    data = json.loads(out)
    assert set(data) == {"drops", "unresolved", "enforcement_gaps", "summary"}
    for item in data["drops"]:
        assert {"source", "destination", "protocol", "port", "direction", "reason", "count",
                "first_seen", "last_seen", "verdict", "causes", "policies", "fix",
                "explanation"} <= set(item)
        assert set(item["fix"]) == {"applicability", "description", "patches", "creates",
                                    "opens", "opensSummary"}
    assert data["summary"]["flows"] == 5 and data["summary"]["groups"] == 2


def test_md_is_an_incident_note(tmp_path: Path) -> None:
    repo, flows = write(tmp_path, MIXED)
    _, out, _ = invoke(repo, "--flows", flows, "--format", "md")
    assert out.startswith("# Observed drops\n")
    assert "| 1 | 3 | `shop/web[Deployment]` | `shop/api[Deployment]` | TCP 8080 |" in out
    assert "## 2. shop/web[Deployment] -> kube-system/coredns[Deployment] UDP 53" in out


def test_sarif_results_sit_on_the_policies_named(tmp_path: Path) -> None:
    repo, flows = write(tmp_path, MIXED)
    _, out, _ = invoke(repo, "--flows", flows, "--format", "sarif")
    sarif = json.loads(out)
    run = sarif["runs"][0]
    assert sarif["version"] == "2.1.0"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["one-sided-allow",
                                                                 "missing-dns-egress"]
    first = run["results"][0]
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": f"{repo}/shop.yaml"}, "region": {"startLine": 6}}
    assert first["properties"]["count"] == 3


def test_fix_dry_run_merges_the_fixes_of_every_explained_group(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both groups create `web-allow-egress`: one policy with both rules, not two objects
    of one name; the diff applies with `git apply`, and the engine then allows both."""
    write(tmp_path, MIXED)
    monkeypatch.chdir(tmp_path)
    code, out, _ = invoke("repo", "--flows", "flows.json", "--fix", "--dry-run")
    assert code == 1
    assert out.count("name: web-allow-egress") == 1
    assert "# fix 1/2 [one-sided-allow]" in out and "# fix 2/2 [missing-dns-egress]" in out
    assert "port: 8080" in out and "port: 53" in out
    subprocess.run(["git", "apply"], input=out.encode(), check=True, cwd=tmp_path)
    code, out, _ = invoke("repo", "--flows", "flows.json", "--format", "json")
    data = json.loads(out)
    assert {d["classification"] for d in data["drops"]} == {"not-explained"}
    assert code == 0


def test_usage_errors(tmp_path: Path) -> None:
    repo, flows = write(tmp_path, MIXED)
    assert invoke(repo, "--flows", flows, "--fix")[0] == 2
    assert invoke(repo, "--flows", flows, "--dry-run")[0] == 2
    assert invoke(repo, "--flows", flows, "--fix", "--dry-run", "--follow")[0] == 2
    code, _, err = invoke("-", "--flows", "-", input="")
    assert code == 2 and "stdin (-) can be read once" in err
    assert invoke(repo)[0] == 2  # --flows is required


def test_real_sample_from_the_cilium_docs_is_explained_by_the_cilium_policy() -> None:
    """export.rst's xwing -> deathstar:80 POLICY_DENIED drop against the Star Wars demo
    and its L3/L4 CiliumNetworkPolicy rule1 (the collector's inference, see
    derived/doc-flows/README.md): the engine models CiliumNetworkPolicies in the
    NetworkPolicy tier (engine/tiers.py), and rule1 isolates the deathstar for ingress and
    admits only org=empire, so the drop is explained by it; no NetworkPolicy fix is
    proposed (a NetworkPolicy edit cannot admit what a Cilium policy denies)."""
    code, out, _ = invoke(str(MINIKUBE / "http-sw-app.yaml"),
                          str(MINIKUBE / "sw_l3_l4_policy.yaml"), "--flows",
                          str(corpus_path("cilium/derived/doc-flows/export.jsonl")),
                          "--format", "json")
    data = json.loads(out)
    policy = next(d for d in data["drops"] if d["reason"] == "POLICY_DENIED")
    assert (policy["source"], policy["destination"], policy["port"]) == (
        "default/xwing[Pod]", "default/deathstar[Deployment]", 80)
    assert policy["classification"] == "explained"
    assert "[CNP default/rule1] denied: no rule admits default/xwing[Pod]" \
        in policy["explanation"]
    assert policy["fix"] is None
    other = next(d for d in data["drops"] if d["reason"] == "INVALID_SOURCE_IP")
    assert other["classification"] == "not-policy" and other["icmp_type"] == 133
    assert code == 1  # an explained drop is a finding


def test_real_hubble_otel_dns_flows_are_an_enforcement_gap_for_a_deny_all_egress(
        tmp_path: Path) -> None:
    """basic-sample-400-udp-flows.json: bookinfo pods resolve names through coredns
    (policy-verdict REDIRECTED and trace events). Sources that deny bookinfo all egress
    say the dataplane let through what they deny; counts match the file."""
    (tmp_path / "np.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
        "  name: deny-egress\n  namespace: bookinfo\nspec:\n  podSelector: {}\n"
        "  policyTypes: [Egress]\n")
    flows = corpus_path("hubble-otel/testdata/basic-sample-400-udp-flows.json")
    code, out, _ = invoke(str(tmp_path / "np.yaml"), "--flows", str(flows),
                          "--format", "json")
    verdicts: dict[str, int] = {}
    traces: dict[str, int] = {}
    for line in flows.read_text().splitlines():
        flow = json.loads(line)["flow"]
        udp = flow.get("l4", {}).get("UDP", {})
        name = flow["source"].get("pod_name", "").split("-")[0]
        if udp.get("destination_port") != 53:
            continue
        if flow["event_type"]["type"] == 5:
            verdicts[name] = verdicts.get(name, 0) + 1
        elif flow.get("is_reply") is False and flow.get("Type") != "L7":
            traces[name] = traces.get(name, 0) + 1
    # each new connection shows as a policy-verdict event and trace events: the count is
    # the larger of the two kinds
    expected = {name: max(verdicts.get(name, 0), traces.get(name, 0))
                for name in verdicts.keys() | traces.keys()}
    data = json.loads(out)
    assert code == 1 and data["drops"] == []
    got = {g["source"].split("/")[1].split("-")[0]: g["count"]
           for g in data["enforcement_gaps"]}
    assert got == expected
    assert verdicts == {"productpage": 19, "ratings": 11}
    assert data["summary"]["forwarded"] == 400


def test_an_explicit_deny_from_the_sources_own_cilium_policy() -> None:
    """sw_deny_policy.yaml has no deny rules (its name notwithstanding: `ingress: [{}]`):
    a POLICY_DENY naming it is checked against the sources and found to differ."""
    line = hubble(src=endpoint("default", "xwing", {"org": "alliance"}),
                  dst=endpoint("default", "deathstar-7848d6c4d5-th9v2",
                               {"org": "empire", "class": "deathstar"}),
                  port=80, reason="POLICY_DENY", direction="INGRESS",
                  ingress_denied_by=[{"name": "empire-default-deny", "namespace": "default",
                                      "kind": "CiliumNetworkPolicy"}])
    code, out, _ = invoke(str(MINIKUBE / "http-sw-app.yaml"),
                          str(MINIKUBE / "sw_deny_policy.yaml"), "--flows", "-",
                          "--format", "json", input=line + "\n")
    [drop] = json.loads(out)["drops"]
    assert drop["classification"] == "explicit-deny"
    assert drop["policies"][0]["file"] == str(MINIKUBE / "sw_deny_policy.yaml")
    assert "has no deny rules there" in drop["details"][0]
    assert code == 1
