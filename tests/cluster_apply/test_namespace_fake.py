"""Namespace label patches, end to end through `netpol-fix apply`, against the fake core API.

The real test server has no core API (/api/v1), so these run against `FakeApi`, which
implements the measured semantics: json-patch content type only, 422 on a failed `test`,
dryRun=All stores nothing. NetworkPolicy and Cilium paths run against the real server in
test_real_cluster.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from netpol_fix.cli import apply as cluster_apply_cmd
from netpol_fix.cli import main
from tests.cluster_apply.conftest import write_after_each_read
from tests.cluster_apply.fake_api import FakeApi

NS_PATH = "/api/v1/namespaces/payments"
LABEL_OPS = [{"op": "test", "path": "/metadata/name", "value": "payments"},
             {"op": "test", "path": "/metadata/labels/kubernetes.io~1metadata.name",
              "value": "payments"},
             {"op": "add", "path": "/metadata/labels/team", "value": "payments"}]


def entry(operations: list[dict[str, Any]], applicability: str = "safe") -> dict[str, Any]:
    return {"rule": "namespace-selector-unmatched",
            "object": {"apiVersion": "v1", "kind": "Namespace", "namespace": None,
                       "name": "payments"},
            "operations": operations, "creates": [],
            "opens": [{"from": "shop/Deployment/api", "to": "payments/Deployment/gateway",
                       "protocol": "TCP", "port": 8443}],
            "applicability": applicability}


def run(kubeconfig: Path, tmp_path: Path, entries: list[dict[str, Any]], *args: str,
        stdin: str | None = None) -> Result:
    patches = tmp_path / "patches.json"
    patches.write_text(json.dumps(entries))
    return CliRunner().invoke(main, ["apply", "--patches", str(patches), "--kubeconfig",
                                     str(kubeconfig), *args], input=stdin)


def patches(fake_api: FakeApi, dry_run: bool) -> list[Any]:
    return [r for r in fake_api.requests
            if r[0] == "PATCH" and (r[2].get("dryRun") == "All") == dry_run]


def test_label_is_added_behind_the_resource_version_guard(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path) -> None:
    before = fake_api.add_namespace("payments")
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS)], "--yes")
    assert result.exit_code == 0, result.output
    assert fake_api.objects[NS_PATH]["metadata"]["labels"]["team"] == "payments"
    assert "applied: Namespace payments [namespace-selector-unmatched]: " \
           "add /metadata/labels/team; opens shop/Deployment/api -> " \
           "payments/Deployment/gateway TCP 8443" in result.output
    (dry,) = patches(fake_api, dry_run=True)
    (real,) = patches(fake_api, dry_run=False)
    guard = {"op": "test", "path": "/metadata/resourceVersion",
             "value": before["metadata"]["resourceVersion"]}
    assert dry[3] == real[3] == [guard, *LABEL_OPS]
    assert real[2]["fieldManager"] == "netpol-fix"


def test_second_apply_reports_already_applied(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path) -> None:
    fake_api.add_namespace("payments", {"team": "payments"})
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS)], "--yes")
    assert result.exit_code == 0, result.output
    assert "already applied: Namespace payments" in result.output
    assert patches(fake_api, True) == [] and patches(fake_api, False) == []


def test_dry_run_sends_only_the_server_dry_run(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path) -> None:
    fake_api.add_namespace("payments")
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS)], "--dry-run")
    assert result.exit_code == 1, result.output  # changes would be made, as fix --dry-run
    assert "would apply: Namespace payments" in result.output
    assert "team" not in fake_api.objects[NS_PATH]["metadata"]["labels"]
    assert len(patches(fake_api, True)) == 1 and patches(fake_api, False) == []


def test_dry_run_with_everything_present_exits_0(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path) -> None:
    fake_api.add_namespace("payments", {"team": "payments"})
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS)], "--dry-run")
    assert result.exit_code == 0, result.output
    assert "already applied: Namespace payments" in result.output


def test_failed_test_is_refused_naming_the_path(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path) -> None:
    fake_api.add_namespace("payments")
    ops = [{"op": "test", "path": "/metadata/labels/env", "value": "prod"}, LABEL_OPS[-1]]
    result = run(fake_kubeconfig, tmp_path, [entry(ops)], "--yes")
    assert result.exit_code == 1
    assert "refused: Namespace payments [namespace-selector-unmatched]: object changed " \
           "since the fix was planned: test at /metadata/labels/env" in result.output
    assert patches(fake_api, True) == []


def test_concurrent_change_is_caught_by_the_guard_and_replanned(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake_api.add_namespace("payments")
    write_after_each_read(monkeypatch, lambda _: fake_api.change(NS_PATH, [
        {"op": "add", "path": "/metadata/labels/owner", "value": "sre"}]), times=1)
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS)], "--yes")
    assert result.exit_code == 0, result.output
    assert "re-planned after 1 concurrent change(s)" in result.output
    labels = fake_api.objects[NS_PATH]["metadata"]["labels"]
    assert labels["team"] == "payments" and labels["owner"] == "sre"  # nothing lost
    rejected = patches(fake_api, True)[0]  # the first attempt carried the stale version
    assert rejected[3][0]["path"] == "/metadata/resourceVersion"


def test_backup_holds_the_object_before_the_change_without_server_fields(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path) -> None:
    fake_api.add_namespace("payments")
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS)], "--yes",
                 "--backup", str(tmp_path / "backup"))
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((tmp_path / "backup" / "namespace.payments.yaml").read_text())
    assert saved == {"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": "payments",
                                  "labels": {"kubernetes.io/metadata.name": "payments"}},
                     "spec": {"finalizers": ["kubernetes"]}}


def test_unsafe_fix_is_skipped_unless_asked(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path) -> None:
    fake_api.add_namespace("payments")
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS, "unsafe")], "--yes")
    assert result.exit_code == 1
    assert "skipped: Namespace payments" in result.output and "--unsafe-fixes" in result.output
    assert fake_api.requests == []
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS, "unsafe")], "--yes",
                 "--unsafe-fixes")
    assert result.exit_code == 0, result.output
    assert fake_api.objects[NS_PATH]["metadata"]["labels"]["team"] == "payments"


def test_missing_object_is_refused(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path) -> None:
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS)], "--yes")
    assert result.exit_code == 1
    assert "refused: Namespace payments [namespace-selector-unmatched]: not found" \
        in result.output


def test_forbidden_read_is_refused_with_the_server_message(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path) -> None:
    fake_api.add_namespace("payments")
    fake_api.fail_next(403)
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS)], "--yes")
    assert result.exit_code == 2  # missing permissions are an error, as for `scan` (issue 15)
    assert "refused: Namespace payments [namespace-selector-unmatched]: 403: injected 403" \
        in result.output
    assert "forbade some changes (403)" in result.stderr


def test_without_yes_and_without_a_terminal_it_refuses_with_exit_2(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path) -> None:
    fake_api.add_namespace("payments")
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS)])
    assert result.exit_code == 2
    assert "Namespace payments [namespace-selector-unmatched]: add /metadata/labels/team" \
        in result.output
    assert "pass --yes" in result.output and fake_api.requests == []


@pytest.mark.parametrize(("answer", "code", "stored"), [("y\n", 0, True), ("n\n", 1, False)])
def test_it_asks_on_a_terminal(fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch, answer: str, code: int,
                               stored: bool) -> None:
    fake_api.add_namespace("payments")
    monkeypatch.setattr(cluster_apply_cmd, "can_ask", lambda: True)
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS)], stdin=answer)
    assert result.exit_code == code, result.output
    assert ("team" in fake_api.objects[NS_PATH]["metadata"]["labels"]) == stored


def test_an_object_that_keeps_changing_is_refused_after_bounded_replans(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake_api.add_namespace("payments")
    write_after_each_read(monkeypatch, lambda n: fake_api.change(NS_PATH, [
        {"op": "add", "path": "/metadata/labels/n", "value": str(n)}]))
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS)], "--yes")
    assert result.exit_code == 1
    assert "kept changing while it was being patched (4 attempts)" in result.output
    assert "team" not in fake_api.objects[NS_PATH]["metadata"]["labels"]


def test_unwritable_backup_stops_before_the_change(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path) -> None:
    fake_api.add_namespace("payments")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS)], "--yes",
                 "--backup", str(blocker / "backup"))
    assert result.exit_code == 2, result.output
    assert "cannot write the backup" in result.output and "was not changed" in result.output
    assert "team" not in fake_api.objects[NS_PATH]["metadata"]["labels"]


MANIFESTS = """\
apiVersion: v1
kind: Namespace
metadata: {{name: payments}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: gateway, namespace: payments}}
spec:
  podSelector: {{}}
  ingress:
  - from: [{{namespaceSelector: {{matchLabels: {{team: shop}}}}}}]
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
{labels}"""


@pytest.mark.parametrize("labels", ["", "  labels: {env: prod}\n"])
def test_planned_namespace_fix_applies_to_a_live_namespace_with_its_name_label(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path, labels: str) -> None:
    """Issue 13: the planned patch tests only what it relies on (the object's name, the
    label being absent), so a live Namespace that also carries kubernetes.io/metadata.name
    (always) and labels set by others takes it, and keeps them all."""
    (tmp_path / "m.yaml").write_text(MANIFESTS.format(labels=labels))
    planned = CliRunner().invoke(main, ["fix", "--dry-run", "--format", "json-patch",
                                        "--select", "namespace-selector-unmatched",
                                        str(tmp_path / "m.yaml")])
    assert planned.exit_code == 1, planned.output
    [item] = [e for e in json.loads(planned.output) if e["object"]["kind"] == "Namespace"]
    assert item["object"]["name"] == "shop"
    assert not any(op["op"] == "test" and op["path"] == "/metadata/labels"
                   for op in item["operations"])
    fake_api.add_namespace("shop", {"env": "prod", "owner": "sre"})
    result = run(fake_kubeconfig, tmp_path, [item], "--yes")
    assert result.exit_code == 0, result.output
    live = fake_api.objects["/api/v1/namespaces/shop"]["metadata"]["labels"]
    assert live == {"kubernetes.io/metadata.name": "shop", "env": "prod", "owner": "sre",
                    "team": "shop"}
    again = run(fake_kubeconfig, tmp_path, [item], "--yes")
    assert again.exit_code == 0 and "already applied" in again.output


def test_add_over_a_label_someone_set_otherwise_is_refused(
        fake_api: FakeApi, fake_kubeconfig: Path, tmp_path: Path) -> None:
    fake_api.add_namespace("payments", {"team": "billing"})
    result = run(fake_kubeconfig, tmp_path, [entry(LABEL_OPS)], "--yes")
    assert result.exit_code == 1
    assert "already has that label with another value" in result.output
    assert fake_api.objects[NS_PATH]["metadata"]["labels"]["team"] == "billing"
