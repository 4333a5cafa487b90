"""End-to-end CLI behaviour: entry points, formats, exit codes, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = str(REPO / "examples")


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_python_m_and_console_script_are_the_same_program() -> None:
    proc = subprocess.run([sys.executable, "-m", "netpol_fix", "--version"],
                          capture_output=True, text=True, check=True)
    assert proc.stdout.startswith("netpol-fix, version")


def test_explain_denied_on_the_example_names_the_deciding_rules() -> None:
    code, out, _ = run("explain", EXAMPLES, "--from", "shop/api", "--to", "payments/gateway",
                       "--port", "8443")
    assert code == 1
    assert "DENIED" in out
    assert "namespaceSelector name=shop matches no namespace" in out
    assert "Known causes:" in out and "namespace-selector-unmatched" in out


def test_explain_allowed_exit_zero_and_json_shape() -> None:
    code, out, _ = run("explain", EXAMPLES, "--from", "shop/web", "--to", "shop/api",
                       "--port", "9000", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["allowed"] is True
    assert set(data) >= {"allowed", "ingress", "egress", "causes", "fix"}
    assert data["ingress"]["isolated"] is True
    assert any(r["admits"] for r in data["egress"]["rules"])


def test_explain_by_named_port_and_to_an_address() -> None:
    code, _, _ = run("explain", EXAMPLES, "--from", "shop/api", "--to", "shop/web",
                     "--port", "http")
    assert code == 1  # web's ingress admits everyone on http, but api's egress does not
    code, out, _ = run("explain", EXAMPLES, "--from", "payments/gateway",
                       "--to", "198.51.100.7", "--port", "443")
    assert code == 0, out
    code, out, _ = run("explain", EXAMPLES, "--from", "payments/gateway",
                       "--to", "198.51.101.7", "--port", "443")
    assert code == 1 and "is not inside 198.51.100.0/24" in out


def test_explain_unknown_workload_is_a_usage_error_listing_candidates() -> None:
    code, _, err = run("explain", EXAMPLES, "--from", "shop/nope", "--to", "shop/api")
    assert code == 2
    assert "workloads in shop: api, web" in err


def test_connectivity_formats() -> None:
    code, text, _ = run("connectivity", EXAMPLES)
    assert code == 0
    assert "shop/web[Deployment] => shop/api[Deployment] : TCP 9000" in text
    _, data, _ = run("connectivity", EXAMPLES, "--format", "json")
    rows = json.loads(data)
    assert {"src": "shop/web[Deployment]", "dst": "shop/api[Deployment]"}.items() <= rows[0].items() or any(
        r["src"] == "shop/web[Deployment]" and r["dst"] == "shop/api[Deployment]" for r in rows)
    _, csv_text, _ = run("connectivity", EXAMPLES, "--format", "csv")
    assert csv_text.splitlines()[0] == "src,dst,conn"
    _, md, _ = run("connectivity", EXAMPLES, "--format", "md")
    assert md.startswith("| src | dst | conn |")
    _, dot, _ = run("connectivity", EXAMPLES, "--format", "dot")
    assert dot.startswith("digraph {") and '"shop/web[Deployment]" -> "shop/api[Deployment]"' in dot


def test_stdin_source() -> None:
    text = (REPO / "examples" / "shop" / "netpol.yaml").read_text()
    code, out, _ = run("scan", "-", "--format", "json", input=text)
    data = json.loads(out)
    assert code == 1
    assert data["findings"][0]["location"]["file"] == "<stdin>"


def test_input_errors_win_exit_code_2_and_analysis_continues(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text((REPO / "examples" / "shop" / "netpol.yaml").read_text())
    (tmp_path / "chart.yaml").write_text("kind: {{ .Values.kind }}\n")
    (tmp_path / "broken.yaml").write_text("a: 1\n---\nkind: [\n")
    code, out, err = run("scan", str(tmp_path), "--format", "json")
    assert code == 2
    data = json.loads(out)
    assert data["findings"] and data["errors"]
    assert "Helm" in err
    # the spec's error objects (plus severity): file, document from 0, line from 1
    by_file = {Path(e["file"]).name: e for e in data["errors"]}
    assert set(by_file["broken.yaml"]) == {"file", "document", "line", "message", "severity"}
    # the unclosed flow sequence is found where the stream ends, after line 3
    assert (by_file["broken.yaml"]["document"], by_file["broken.yaml"]["line"]) == (1, 4)
    assert by_file["broken.yaml"]["severity"] == "error"
    assert by_file["chart.yaml"]["document"] is None  # a whole-file error: no document


def test_scan_text_groups_by_file_with_location_rule_message_and_fix() -> None:
    code, out, _ = run("scan", EXAMPLES)
    assert code == 1
    lines = out.splitlines()
    first = lines[0]
    assert first.startswith(f"{EXAMPLES}/shop/netpol.yaml:2: error[missing-dns-egress] "
                            "NetworkPolicy shop/default-deny: ")
    assert lines[1].startswith("  affected: ")
    assert lines[2].startswith("  fix (safe): append an egress rule to NetworkPolicy "
                               "shop/default-deny allowing UDP and TCP 53")
    assert lines[3].startswith("    opens shop/Deployment/")
    files = [line.split(":")[0] for line in lines if not line.startswith(" ")
             and ": " in line and not line.startswith("Found")]
    assert files == sorted(files)  # each file's findings together
    assert lines[-1].startswith("Found ") and "fixable with `netpol-fix fix`" in lines[-1]


def test_scan_select_and_ignore() -> None:
    code, out, _ = run("scan", EXAMPLES, "--ignore", "missing-dns-egress", "--format", "json")
    assert all(f["rule"] != "missing-dns-egress" for f in json.loads(out)["findings"])
    code, _, err = run("scan", EXAMPLES, "--select", "no-such-rule")
    assert code == 2 and "unknown rule id" in err


def test_rules_and_rule_documentation() -> None:
    code, out, _ = run("rules")
    assert code == 0 and "missing-dns-egress" in out
    code, out, _ = run("rule", "missing-dns-egress")
    assert "Why it matters" in out and "When the fix is unsafe" in out


def test_sarif_output_is_valid_shape() -> None:
    _code, out, _ = run("scan", EXAMPLES, "--format", "sarif")
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    run0 = sarif["runs"][0]
    ids = {r["id"] for r in run0["tool"]["driver"]["rules"]}
    assert all(r["ruleId"] in ids for r in run0["results"])
    assert run0["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1


def test_suppression_annotation(tmp_path: Path) -> None:
    policy = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny
  namespace: shop
  annotations:
    netpol-fix.io/ignore: "missing-dns-egress"
spec:
  podSelector: {}
  policyTypes: [Egress]
"""
    (tmp_path / "p.yaml").write_text(policy)
    code, out, _ = run("scan", str(tmp_path), "--select", "missing-dns-egress")
    assert code == 0 and "No findings" in out
    (tmp_path / "p.yaml").write_text(policy.replace('"missing-dns-egress"', '"all"'))
    assert run("scan", str(tmp_path), "--select", "missing-dns-egress")[0] == 0
    (tmp_path / "p.yaml").write_text(policy.replace('"missing-dns-egress"', '"other"'))
    assert run("scan", str(tmp_path), "--select", "missing-dns-egress")[0] == 1


def test_config_file_settings_and_options_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".netpol-fix.yaml").write_text("dns-namespace: dns\ndns-selector: app=coredns\n")
    (tmp_path / "p.yaml").write_text("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Egress]}
""")
    monkeypatch.chdir(tmp_path)
    _, out, _ = run("scan", "p.yaml", "--format", "json")
    assert "dns/app=coredns" in out
    _, out, _ = run("scan", "p.yaml", "--format", "json", "--dns-selector", "k8s-app=dns")
    assert "dns/k8s-app=dns" in out
    (tmp_path / ".netpol-fix.yaml").write_text("dns-zone: x\n")
    code, _, err = run("scan", "p.yaml")
    assert code == 2 and "unknown setting" in err


def test_explain_fix_admits_exactly_the_flow(tmp_path: Path) -> None:
    import shutil
    shutil.copytree(REPO / "examples", tmp_path / "ex")
    code, out, _ = run("explain", str(tmp_path / "ex"), "--from", "shop/api",
                       "--to", "payments/gateway", "--port", "8443", "--fix",
                       "--format", "json")
    assert code == 1
    data = json.loads(out)
    fix = data["fix"]
    assert fix["applicability"] == "unsafe"
    # the gateway's ingress denies; api's egress allows the gateway but not DNS, which a
    # connection by name needs first: both are in the fix, and nothing else
    dns = [{"from": "shop/Deployment/api", "to": "kube-system/k8s-app=kube-dns",
            "protocol": protocol, "port": 53} for protocol in ("TCP", "UDP")]
    assert fix["opens"] == dns + [{"from": "shop/Deployment/api",
                                   "to": "payments/Deployment/gateway",
                                   "protocol": "TCP", "port": 8443}]
    assert [p["object"]["name"] for p in fix["patches"]] == ["gateway", "api"]
    assert "+          kubernetes.io/metadata.name: shop" in fix["diff"]
    # the patch applied by `git apply`-equivalent: write the patched object back and re-ask
    import jsonpatch
    import yaml
    target = tmp_path / "ex" / "shop" / "payments-netpol.yaml"
    docs = list(yaml.safe_load_all(target.read_text()))
    docs[0] = jsonpatch.apply_patch(docs[0], fix["patches"][0]["operations"])
    target.write_text(yaml.safe_dump_all(docs))
    code, _, _ = run("explain", str(tmp_path / "ex"), "--from", "shop/api",
                     "--to", "payments/gateway", "--port", "8443")
    assert code == 0


def test_explain_fix_on_both_sides_and_allowed_needs_no_fix() -> None:
    code, out, _ = run("explain", EXAMPLES, "--from", "shop/web", "--to", "payments/gateway",
                       "--port", "8443", "--fix")
    assert code == 1
    # ingress at the gateway, egress at web, and web's DNS lookups (its egress has no DNS)
    assert out.count("+  - from:") + out.count("+  - to:") == 3
    assert "and the DNS lookups the source cannot make" in out
    assert "opens shop/Deployment/web -> kube-system/k8s-app=kube-dns UDP 53" in out
    # allowed by address while web's DNS lookup is denied: a connection by name fails, so
    # the headline says so and --fix offers the DNS rule alone (issue 13)
    code, out, _ = run("explain", EXAMPLES, "--from", "shop/web", "--to", "shop/api",
                       "--port", "9000", "--fix")
    assert code == 0 and "a connection by name FAILS" in out.splitlines()[0]
    assert "Fix (" in out and out.count("+  - to:") == 1 and "k8s-app: kube-dns" in out
    assert "TCP 9000" not in "".join(line for line in out.splitlines() if "opens" in line)


def test_explain_fix_under_a_namespace_default_deny_creates_a_policy_for_the_source(
        tmp_path: Path) -> None:
    """shop's default-deny selects checkout and frontend: a rule appended there would let
    frontend reach the gateway's port too (were its ingress open), so the egress rule goes
    into a new policy for checkout's pods; applying it admits the flow."""
    import shutil
    shutil.copytree(REPO / "golden/one-sided-allow/ingress-allows-namespace-default-deny-egress"
                    / "input", tmp_path / "in")
    code, out, _ = run("explain", str(tmp_path / "in"), "--from", "shop/checkout",
                       "--to", "payments/gateway", "--port", "8443", "--fix",
                       "--format", "json")
    assert code == 1
    fix = json.loads(out)["fix"]
    assert fix["patches"] == []
    [new] = fix["creates"]
    assert new["metadata"] == {"name": "checkout-allow-egress", "namespace": "shop"}
    assert new["spec"]["podSelector"] == {"matchLabels": {"app": "checkout", "team": "shop"}}
    assert fix["opens"] == [{"from": "shop/Deployment/checkout",
                             "to": "payments/Deployment/gateway", "protocol": "TCP",
                             "port": 8443}]
    assert "+  name: checkout-allow-egress" in fix["diff"]
    assert "kube-dns" not in fix["diff"]  # shop's default-deny already allows DNS
    with (tmp_path / "in" / "shop.yaml").open("a") as handle:
        handle.write("---\n" + json.dumps(new) + "\n")
    code, _, _ = run("explain", str(tmp_path / "in"), "--from", "shop/checkout",
                     "--to", "payments/gateway", "--port", "8443")
    assert code == 0


def test_fix_takes_prefer_selector() -> None:
    """`fix --prefer-selector` (not only scan and the config file) rewrites the selector
    to the automatic name label instead of labelling the Namespace."""
    case = str(REPO / "golden/namespace-selector-unmatched/name-label-missing/input")
    code, out, _ = run("fix", "--dry-run", "--select", "namespace-selector-unmatched",
                       "--prefer-selector", case)
    assert code == 1
    assert "+          kubernetes.io/metadata.name: shop" in out
    assert "select namespace shop by its automatic label" in out
    code, out, _ = run("fix", "--dry-run", "--select", "namespace-selector-unmatched", case)
    assert "select namespace shop by its automatic label" not in out


def test_explain_traces_dns_and_causes_are_rule_ids() -> None:
    """The trace's DNS step: web's egress has no DNS rule, so even the allowed web -> api
    connection fails by name; causes hold rule ids only."""
    code, out, _ = run("explain", EXAMPLES, "--from", "shop/web", "--to", "shop/api",
                       "--port", "9000")
    assert code == 0
    assert "3. DNS of shop/web[Deployment] (to kube-system/k8s-app=kube-dns)" in out
    assert "but the source cannot resolve names" in out
    code, out, _ = run("explain", EXAMPLES, "--from", "shop/api", "--to", "payments/gateway",
                       "--port", "8443", "--format", "json")
    data = json.loads(out)
    assert data["dns"] == {"target": "kube-system/k8s-app=kube-dns", "allowed": False,
                           "denied": ["UDP", "TCP"]}
    from netpol_fix.rules.registry import RULES
    assert data["causes"] and all(cause in RULES for cause in data["causes"])
    assert "missing-dns-egress" in data["causes"]


def test_live_namespace_fix_is_named_as_such_by_scan_and_fix(tmp_path: Path) -> None:
    """A selector naming a namespace no manifest declares: the fix patches the live
    Namespace, so scan does not count it as fixable by `fix`, and `fix` says why it skips
    it and what to do instead (no claim that anything was read from a cluster)."""
    import shutil
    shutil.copytree(REPO / "tests/data/namespace-absent", tmp_path / "in")
    code, out, _ = run("scan", str(tmp_path / "in"))
    assert code == 1
    assert out.splitlines()[-1] == ("Found 1 finding(s) (1 for live objects, with "
                                    "`netpol-fix apply --cluster`).")
    code, out, err = run("fix", "--dry-run", str(tmp_path / "in"))
    assert code == 0 and out == ""
    assert "no file holds Namespace frontend (the fix patches the live object)" in err
    assert "--prefer-selector" in err and "read from the cluster" not in err
    code, out, _ = run("fix", "--dry-run", "--prefer-selector", str(tmp_path / "in"))
    assert code == 1 and "kubernetes.io/metadata.name: frontend" in out


def test_explain_does_not_blame_a_name_pinned_selector_for_an_absent_namespace(
        tmp_path: Path) -> None:
    """kube-system is rarely among the sources: a DNS peer pinned by
    kubernetes.io/metadata.name does not 'match no namespace' in the trace, and
    namespace-selector-unmatched is not a cause."""
    (tmp_path / "m.yaml").write_text("""
apiVersion: v1
kind: Pod
metadata: {name: cart, namespace: checkout, labels: {app: cart}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: redis, namespace: cache, labels: {app: redis}}
spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: cart-egress, namespace: checkout}
spec:
  podSelector: {matchLabels: {app: cart}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}},
          podSelector: {matchLabels: {k8s-app: kube-dns}}}]
    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
""")
    code, out, _ = run("explain", str(tmp_path), "--from", "checkout/cart", "--to",
                       "cache/redis", "--port", "6379", "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert "namespace-selector-unmatched" not in data["causes"]
    reasons = [r["reason"] for r in data["egress"]["rules"]]
    assert any("does not match namespace cache" in r for r in reasons), reasons
    assert not any("matches no namespace" in r for r in reasons)


def test_explain_fix_adds_only_the_dns_protocol_that_is_missing(tmp_path: Path) -> None:
    """web's egress allows DNS over UDP only: the narrowest fix for web -> api adds the
    egress rule to api and TCP 53 to the DNS pods, not a second UDP entry."""
    (tmp_path / "m.yaml").write_text("""
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports: [{port: 53, protocol: UDP}]
""")
    code, out, _ = run("explain", str(tmp_path), "--from", "shop/web", "--to", "shop/api",
                       "--port", "8080", "--fix")
    assert code == 1
    added = [line for line in out.splitlines() if line.startswith("+") and "protocol" in line]
    assert "TCP" in " ".join(added) and "UDP" not in " ".join(added), out
