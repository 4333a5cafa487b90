"""deploy/rbac.yaml grants what `apply` does, checked against the requests it really sends.

The test server has no RBAC API (it serves CRDs only), so the roles are checked here: every
request `apply` makes in the fake-API runs must be allowed to the applier ServiceAccount,
and the read-only account must be unable to write.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.cluster.objects import CUSTOM_KINDS
from tests.cluster_apply.fake_api import FakeApi
from tests.cluster_apply.test_namespace_fake import LABEL_OPS, entry

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "rbac.yaml"
VERBS = {"GET": "get", "PATCH": "patch", "POST": "create"}


def grants(account: str) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) the ServiceAccount holds through its bindings."""
    docs = list(yaml.safe_load_all(RBAC.read_text()))
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterRole"}
    out = set()
    for binding in (d for d in docs if d["kind"] == "ClusterRoleBinding"):
        if any(s["name"] == account for s in binding["subjects"]):
            for rule in roles[binding["roleRef"]["name"]]["rules"]:
                out |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"]
                        for v in rule["verbs"]}
    return out


def test_applier_may_do_every_request_apply_sends(fake_api: FakeApi, fake_kubeconfig: Path,
                                                  tmp_path: Path) -> None:
    fake_api.add_namespace("payments")
    patches = tmp_path / "p.json"
    patches.write_text(json.dumps([entry(LABEL_OPS)]))
    result = CliRunner().invoke(main, ["apply", "--patches", str(patches), "--kubeconfig",
                                       str(fake_kubeconfig), "--yes"])
    assert result.exit_code == 0, result.output
    sent = {("", path.split("/")[3], VERBS[method]) for method, path, _q, _b in fake_api.requests}
    assert sent == {("", "namespaces", "get"), ("", "namespaces", "patch")}
    assert sent <= grants("netpol-fix-applier")


def test_applier_covers_network_policies_and_the_cilium_policies_fixes_create() -> None:
    applier = grants("netpol-fix-applier")
    assert {("networking.k8s.io", "networkpolicies", v) for v in ("get", "patch")} <= applier
    cnp = CUSTOM_KINDS[("cilium.io/v2", "CiliumNetworkPolicy")]
    assert {(cnp.group, cnp.plural, v) for v in ("get", "create")} <= applier


def test_reader_cannot_write() -> None:
    reader = grants("netpol-fix")
    assert reader and all(verb in ("get", "list") for _g, _r, verb in reader)


def test_reader_reads_and_applier_patches_every_policy_kind_netpol_fix_writes() -> None:
    """Every custom kind `apply` patches (the fixes of the Cilium and admin tiers) is
    readable by both accounts (scan, and apply's `get` of the live object) and patchable
    by the applier."""
    reader, applier = grants("netpol-fix"), grants("netpol-fix-applier")
    for kind in CUSTOM_KINDS.values():
        assert {(kind.group, kind.plural, v) for v in ("get", "list")} <= reader, kind
        assert (kind.group, kind.plural, "patch") in applier, kind
