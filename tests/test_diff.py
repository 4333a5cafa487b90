"""`netpol-fix diff`: git sources in a real repository, attribution, formats, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.emit.diff import describe
from netpol_fix.engine.diff import PairChange, aligned_changes, connectivity_diff, counts_as_failure
from netpol_fix.inventory.git import load_source_inventory, parse_git_spec
from netpol_fix.model.connset import ConnSet
from tests.conftest import inventory_from_yaml

NAMESPACES = """\
apiVersion: v1
kind: Namespace
metadata: {{name: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: client, labels: {{env: prod}}}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: batch, labels: {{env: {batch_env}}}}}
"""

WORKLOADS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web, ports: [{containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: client}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: api}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: job, namespace: batch}
spec:
  selector: {matchLabels: {app: job}}
  template:
    metadata: {labels: {app: job}}
    spec: {containers: [{name: job, image: job}]}
"""

POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: web-ingress, namespace: shop}}
spec:
  podSelector: {{matchLabels: {{app: web}}}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {{matchLabels: {{env: prod}}}}
    ports: [{ports}]
"""


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True)
    return done.stdout


def write_tree(repo: Path, batch_env: str, ports: str) -> None:
    manifests = repo / "manifests"
    manifests.mkdir(exist_ok=True)
    (manifests / "namespaces.yaml").write_text(NAMESPACES.format(batch_env=batch_env))
    (manifests / "workloads.yaml").write_text(WORKLOADS)
    (manifests / "policy.yaml").write_text(POLICY.format(ports=ports))
    (repo / "README.md").write_text("not a manifest\n")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two commits: the second edits the policy's ports and relabels namespace batch."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    write_tree(root, "staging", "{port: 8080}")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    write_tree(root, "prod", "{port: 8080}, {port: 9090}")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "two")
    monkeypatch.chdir(root)
    return root


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


def by_pair(changes: list[PairChange]) -> dict[tuple[str, str], PairChange]:
    return {(c.src, c.dst): c for c in changes}


def test_git_sources_attribute_policy_edit_and_namespace_label(repo: Path) -> None:
    old = load_source_inventory("git:HEAD~1:manifests/")
    new = load_source_inventory("git:HEAD:manifests")
    assert not old.errors and not new.errors
    changes = by_pair(connectivity_diff(old, new))
    api = changes[("client/api[Deployment]", "shop/web[Deployment]")]
    assert api.change == "changed"
    assert api.old.describe() == "TCP 8080" and api.new.describe() == "TCP 8080,9090"
    assert [c.subject for c in api.causes] == ["NetworkPolicy shop/web-ingress"]
    assert "ingress rule #1 edited: ports TCP 8080 -> TCP 8080, TCP 9090" in api.causes[0].detail

    job = changes[("batch/job[Deployment]", "shop/web[Deployment]")]
    assert job.change == "added"
    ns_causes = [c for c in job.causes if c.subject == "Namespace batch"]
    assert len(ns_causes) == 1
    assert "env: staging -> prod" in ns_causes[0].detail
    assert "namespaceSelector env=prod of NetworkPolicy shop/web-ingress" in ns_causes[0].detail
    assert "now matches" in ns_causes[0].detail
    # nothing else changed: web's other peers are open, the rest is unselected
    assert set(changes) == {("client/api[Deployment]", "shop/web[Deployment]"),
                            ("batch/job[Deployment]", "shop/web[Deployment]")}


def test_checkout_is_untouched(repo: Path) -> None:
    """Reading git:REV never checks out: an uncommitted edit stays, and is not read."""
    policy = repo / "manifests" / "policy.yaml"
    edited = policy.read_text().replace("app: web}}", "app: nothing}}")
    policy.write_text(edited)
    head_before = git(repo, "rev-parse", "HEAD")
    status_before = git(repo, "status", "--porcelain")
    code, out, _err = invoke("diff", "git:HEAD~1", "git:HEAD", "--format", "json")
    assert code == 1
    assert json.loads(out)["summary"] == {"changed": 1, "added": 1, "removed": 0}
    assert policy.read_text() == edited
    assert git(repo, "rev-parse", "HEAD") == head_before
    assert git(repo, "status", "--porcelain") == status_before
    # the working tree against HEAD shows the uncommitted edit: web no longer selected
    code, out, _err = invoke("diff", "git:HEAD:manifests", "manifests")
    assert code == 1
    assert "NetworkPolicy shop/web-ingress edited: podSelector" in out


def test_git_source_errors_exit_2(repo: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    code, _out, err = invoke("diff", "git:no-such-rev", "git:HEAD")
    assert code == 2 and "unknown revision 'no-such-rev'" in err
    code, _out, err = invoke("diff", "git:HEAD:nowhere/", "git:HEAD")
    assert code == 2 and "no such path 'nowhere'" in err
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    code, _out, err = invoke("diff", "git:HEAD", "git:HEAD")
    assert code == 2 and "git repository" in err


def test_same_connectivity_exits_0(repo: Path) -> None:
    code, out, _err = invoke("diff", "git:HEAD", "manifests/")
    assert code == 0
    assert out.startswith("Connectivity is the same.")
    code, out, _err = invoke("diff", "git:HEAD", "manifests/", "--format", "netpol-analyzer")
    assert code == 0 and out == ""


def test_fail_on(repo: Path) -> None:
    """HEAD~1 -> HEAD only opens connections: --fail-on removed passes, added fails;
    the reverse direction is a reduction and a removal."""
    assert invoke("diff", "git:HEAD~1", "git:HEAD", "--fail-on", "removed")[0] == 0
    assert invoke("diff", "git:HEAD~1", "git:HEAD", "--fail-on", "added")[0] == 1
    assert invoke("diff", "git:HEAD~1", "git:HEAD", "--fail-on", "changed")[0] == 1
    assert invoke("diff", "git:HEAD", "git:HEAD~1", "--fail-on", "removed")[0] == 1
    assert invoke("diff", "git:HEAD", "git:HEAD~1", "--fail-on", "added")[0] == 0


def test_formats(repo: Path) -> None:
    code, out, _err = invoke("diff", "git:HEAD~1", "git:HEAD", "--format", "md")
    assert code == 1
    assert "| diff | source | destination | old | new | because |" in out
    assert "| changed | `client/api[Deployment]` | `shop/web[Deployment]` | TCP 8080 | " \
           "TCP 8080,9090 |" in out
    code, out, _err = invoke("diff", "git:HEAD~1", "git:HEAD", "--format", "netpol-analyzer")
    assert out.splitlines() == [
        "Connectivity diff:",
        ("diff-type: changed, source: client/api[Deployment], destination: "
        "shop/web[Deployment], ref1: TCP 8080, ref2: TCP 8080,9090"),
        ("diff-type: added, source: batch/job[Deployment], destination: shop/web[Deployment], "
        "ref1: No Connections, ref2: TCP 8080,9090"),
    ]
    code, out, _err = invoke("diff", "git:HEAD~1", "git:HEAD")
    assert "because: Namespace batch labels changed (env: staging -> prod)" in out
    assert "Input changes:" in out


def test_parse_git_spec() -> None:
    spec = parse_git_spec("git:HEAD~1:./apps/")
    assert spec is not None and (spec.rev, spec.path) == ("HEAD~1", "apps")
    assert parse_git_spec("apps/") is None
    whole = parse_git_spec("git:main")
    assert whole is not None and whole.path == ""


BASE = """\
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: ns, labels: {app: a}}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: ns, labels: {app: b}}
"""

DENY_B = """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-b, namespace: ns}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.0/8}}]
"""


def test_workload_label_change_and_external_ranges() -> None:
    """A pod relabelled out of a policy's reach: the pod itself is the cause; the ranges
    outside 10.0.0.0/8 that the policy shut are reported as merged ranges."""
    old = inventory_from_yaml(BASE + DENY_B)
    new = inventory_from_yaml(BASE.replace("{app: b}", "{app: c}") + DENY_B)
    changes = by_pair(connectivity_diff(old, new))
    pod_pair = changes[("ns/a[Pod]", "ns/b[Pod]")]
    assert pod_pair.change == "added"
    assert [c.subject for c in pod_pair.causes] == ["workload ns/b[Pod]"]
    assert "pod template labels app: b -> c" in pod_pair.causes[0].detail
    assert ("0.0.0.0-9.255.255.255[External]", "ns/b[Pod]") in changes
    assert ("11.0.0.0-255.255.255.255[External]", "ns/b[Pod]") in changes
    assert ("10.0.0.0-10.255.255.255[External]", "ns/b[Pod]") not in changes


def test_policy_added_names_isolation() -> None:
    old = inventory_from_yaml(BASE)
    new = inventory_from_yaml(BASE + DENY_B)
    change = by_pair(connectivity_diff(old, new))[("ns/a[Pod]", "ns/b[Pod]")]
    assert change.change == "removed"
    assert str(change.causes[0]) == ("NetworkPolicy ns/deny-b added (selects ns/b[Pod] for "
                                     "ingress; no ingress rule admits ns/a[Pod])")


def test_aligned_changes_merge_touching_ranges() -> None:
    tcp80 = ConnSet.ports("TCP", 80)
    old = [(0, 9, tcp80), (10, 19, tcp80)]
    new = [(5, 14, ConnSet.all())]
    got = aligned_changes(old, new)
    assert [(a, b) for a, b, _o, _n in got] == [(0, 4), (5, 14), (15, 19)]
    assert got[0][3] == ConnSet.none() and got[1][3] == ConnSet.all()


def test_counts_as_failure_for_reductions() -> None:
    tcp = ConnSet.ports("TCP", 80, 81)
    reduced = PairChange("changed", "a", "b", tcp, ConnSet.ports("TCP", 80))
    widened = PairChange("changed", "a", "b", ConnSet.ports("TCP", 80), tcp)
    assert counts_as_failure(reduced, "removed") and not counts_as_failure(reduced, "added")
    assert counts_as_failure(widened, "added") and not counts_as_failure(widened, "removed")
    assert counts_as_failure(widened, "changed") and counts_as_failure(widened, "any")
    assert not counts_as_failure(PairChange("added", "a", "b", ConnSet.none(), tcp), "removed")


def test_describe_says_what_netpol_analyzer_cannot() -> None:
    every_port = ConnSet.all() - ConnSet(other=True)
    assert describe(every_port) == "TCP,UDP,SCTP all ports (no ICMP)"
    assert describe(ConnSet.all()) == "All Connections"
    assert describe(ConnSet.all() - every_port) == "ICMP and other protocols"
