"""The admin tiers read from a live cluster (fake API server): AdminNetworkPolicy and
BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1), ClusterNetworkPolicy
(v1alpha2), found through API discovery, read cluster-wide under `-n`, and a verdict marked
uncertain when a served kind cannot be read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.cluster.read import read_cluster
from tests.cluster import admin_manifests as a
from tests.cluster import manifests as m
from tests.cluster.fakeapi import FakeApi
from tests.cluster.test_read import kinds

GROUP = "/apis/policy.networking.k8s.io"


def shop() -> list[dict[str, Any]]:
    """The shop cluster without its default-deny, on Calico (which enforces the admin
    tiers; Cilium does not): only the admin tiers and the allow below decide."""
    return [m.CALICO if o is m.CILIUM else o for o in m.shop_cluster()
            if o is not m.DEFAULT_DENY]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_without_the_crds_nothing_is_listed_and_nothing_is_said(
        fake: FakeApi, kubeconfig: str) -> None:
    """A server without the network-policy-api CRDs answers its group versions with 404:
    that is no error, and no list of an admin kind is sent."""
    fake.add_all(m.shop_cluster())
    read = read_cluster(kubeconfig, None, "shop", False)
    assert read.errors == [] and read.unread_tiers == []
    admin = [r for r in fake.requests if r.startswith(GROUP)]
    assert admin == [f"{GROUP}/v1alpha1", f"{GROUP}/v1alpha2"]
    code, out, err = run("scan", "--cluster", "--kubeconfig", kubeconfig, "-n", "shop")
    assert code == 1 and "warning" not in err and "AdminNetworkPolicy" not in out + err


def test_v1alpha1_kinds_are_read_cluster_wide_under_a_namespace_scope(
        fake: FakeApi, kubeconfig: str) -> None:
    """ANP and BANP are cluster-scoped and select the namespace's pods from outside it, so
    `-n shop` still lists them, at the cluster-scoped path, with apiVersion and kind."""
    fake.admin_versions = {"v1alpha1"}
    fake.add_all(m.shop_cluster() + [a.anp_deny_client_to_web(), a.banp_default_deny_egress()])
    read = read_cluster(kubeconfig, None, "shop", False)
    assert read.errors == [] and read.unread_tiers == []
    names = kinds(read)
    assert names["AdminNetworkPolicy"] == ["no-client-to-web"]
    assert names["BaselineAdminNetworkPolicy"] == ["default"]
    banp = next(s.obj for s in read.objects if s.obj["kind"] == "BaselineAdminNetworkPolicy")
    assert banp["apiVersion"] == a.V1ALPHA1 and "namespace" not in banp["metadata"]
    lists = [r.partition("?")[0] for r in fake.requests if r.startswith(GROUP)]
    assert lists == [f"{GROUP}/v1alpha1", f"{GROUP}/v1alpha1/adminnetworkpolicies",
                     f"{GROUP}/v1alpha1/baselineadminnetworkpolicies", f"{GROUP}/v1alpha2"]


def test_v1alpha2_cluster_network_policies_are_read(fake: FakeApi, kubeconfig: str) -> None:
    fake.admin_versions = {"v1alpha2"}
    fake.add_all(m.shop_cluster() + [a.cluster_network_policy_deny_egress()])
    read = read_cluster(kubeconfig, None, None, True)
    assert read.errors == []
    assert kinds(read)["ClusterNetworkPolicy"] == ["shop-baseline"]
    assert "AdminNetworkPolicy" not in kinds(read)


def test_forbidden_anp_names_the_rbac_resource_and_the_consequence(
        fake: FakeApi, kubeconfig: str) -> None:
    fake.admin_versions = {"v1alpha1"}
    fake.add_all(m.shop_cluster() + [a.anp_deny_client_to_web(), a.banp_default_deny_egress()])
    fake.forbidden = {"adminnetworkpolicies"}
    read = read_cluster(kubeconfig, None, "shop", False)
    (error,) = read.errors
    assert error.severity == "warning" and error.file == "<cluster>"
    assert error.message.startswith(
        "cannot list adminnetworkpolicies (cluster-scoped): forbidden (needs verb 'list' on "
        "resource 'adminnetworkpolicies.policy.networking.k8s.io'); the verdicts leave the "
        "AdminNetworkPolicy tier out")
    assert [t.text for t in read.unread_tiers] == ["AdminNetworkPolicy (403 Forbidden)"]
    assert kinds(read)["BaselineAdminNetworkPolicy"] == ["default"]  # the rest is read


def test_a_discovery_failure_other_than_404_is_said_and_leaves_the_tier_unread(
        fake: FakeApi, kubeconfig: str) -> None:
    fake.admin_versions = {"v1alpha1", "v1alpha2"}
    fake.broken_discovery = {"policy.networking.k8s.io/v1alpha2"}
    fake.add_all(m.shop_cluster() + [a.anp_deny_client_to_web()])
    read = read_cluster(kubeconfig, None, None, True)
    (error,) = read.errors
    assert error.message == ("cannot read API discovery /apis/policy.networking.k8s.io/"
                             "v1alpha2: 503 ServiceUnavailable; policy.networking.k8s.io/"
                             "v1alpha2 policies not read")
    assert [t.text for t in read.unread_tiers] == [
        "policy.networking.k8s.io/v1alpha2 policies (503 ServiceUnavailable)"]
    assert kinds(read)["AdminNetworkPolicy"] == ["no-client-to-web"]


def test_explain_prints_the_cluster_anp_in_the_chain(fake: FakeApi, kubeconfig: str) -> None:
    """An ANP Deny decides before the NetworkPolicy that allows the flow: "[ANP ...] Deny ->
    not reached: NetworkPolicy"."""
    fake.admin_versions = {"v1alpha1"}
    fake.add_all(shop() + [a.CLIENT_TO_WEB, a.anp_deny_client_to_web()])
    code, out, err = run("explain", "--cluster", "--kubeconfig", kubeconfig, "-n", "shop",
                         "--from", "client-5d4b", "--to", "web-7c9f8d", "--port", "8080")
    assert code == 1, err
    assert ("chain: [ANP no-client-to-web, priority 10] Deny -> not reached: NetworkPolicy"
            in out)
    assert "UNCERTAIN" not in out


def test_explain_marks_the_verdict_uncertain_when_the_anp_tier_is_forbidden(
        fake: FakeApi, kubeconfig: str) -> None:
    """Without the ANP the NetworkPolicy allows the flow: the verdict says ALLOWED, and must
    say that the tier that could deny it was not read."""
    fake.admin_versions = {"v1alpha1"}
    fake.add_all(shop() + [a.CLIENT_TO_WEB, a.anp_deny_client_to_web()])
    fake.forbidden = {"adminnetworkpolicies"}
    args = ("explain", "--cluster", "--kubeconfig", kubeconfig, "-n", "shop",
            "--from", "client-5d4b", "--to", "web-7c9f8d", "--port", "8080")
    code, out, err = run(*args)
    assert code == 0, err
    assert out.startswith("shop/client-5d4b[ReplicaSet] => shop/web-7c9f8d[ReplicaSet] on "
                          "TCP 8080: ALLOWED (UNCERTAIN: policy kinds not read, see the "
                          "verdict)")
    assert ("  UNCERTAIN: served by the cluster but not read: AdminNetworkPolicy (403 "
            "Forbidden); this verdict leaves them out and may be wrong") in out
    assert "the verdicts leave the AdminNetworkPolicy tier out" in err
    code, out, _ = run(*args, "-o", "json")
    assert json.loads(out)["uncertain"] == ["AdminNetworkPolicy (403 Forbidden)"]


def test_scan_finds_the_overridden_allow_and_the_baseline_without_dns(
        fake: FakeApi, kubeconfig: str) -> None:
    fake.admin_versions = {"v1alpha1"}
    fake.add_all(shop() + [a.CLIENT_TO_WEB, a.anp_deny_client_to_web(),
                           a.banp_default_deny_egress()])
    code, out, err = run("scan", "--cluster", "--kubeconfig", kubeconfig, "-A", "-o", "json")
    assert code == 1, err
    found = {(f["rule"], f["object"]["kind"], f["object"]["name"])
             for f in json.loads(out)["findings"]}
    assert ("tier-overrides-allow", "NetworkPolicy", "web-from-client") in found
    assert ("missing-dns-egress", "BaselineAdminNetworkPolicy", "default") in found
    dns = next(f for f in json.loads(out)["findings"] if f["rule"] == "missing-dns-egress")
    assert dns["location"] is None
    assert dns["object"] == {"apiVersion": a.V1ALPHA1, "kind": "BaselineAdminNetworkPolicy",
                             "namespace": None, "name": "default"}


def test_a_file_copy_of_a_cluster_scoped_policy_replaces_the_cluster_copy(
        fake: FakeApi, kubeconfig: str, tmp_path: Path) -> None:
    """Files are the desired state: the manifest's ANP (which Passes) is analysed instead of
    the cluster's (which Denies); the note names it without a namespace."""
    fake.admin_versions = {"v1alpha1"}
    fake.add_all(shop() + [a.CLIENT_TO_WEB, a.anp_deny_client_to_web()])
    desired = a.anp_deny_client_to_web()
    desired["spec"]["ingress"][0]["action"] = "Pass"
    (tmp_path / "anp.yaml").write_text(yaml.safe_dump(desired))
    code, out, err = run("explain", str(tmp_path), "--cluster", "--kubeconfig", kubeconfig,
                         "-n", "shop", "--from", "client-5d4b", "--to", "web-7c9f8d",
                         "--port", "8080")
    assert code == 0, out + err
    assert "the files' copies are analysed (desired state): AdminNetworkPolicy " \
           "no-client-to-web" in err
    assert "[ANP no-client-to-web, priority 10] Pass" in out


def test_apply_cluster_patches_the_baseline_with_a_dns_allow_once(
        fake: FakeApi, kubeconfig: str) -> None:
    """The tier fix of missing-dns-egress (an Allow inserted first in the BANP) is written
    to the cluster-scoped object behind the resourceVersion test and its own tests; a
    second run finds the Allow in place."""
    fake.admin_versions = {"v1alpha1"}
    fake.add_all(shop() + [a.banp_default_deny_egress()])
    base = ("apply", "--cluster", "--kubeconfig", kubeconfig, "-A", "--select",
            "missing-dns-egress")
    code, out, err = run(*base, "--yes")
    assert code == 0, out + err
    assert "applied: BaselineAdminNetworkPolicy default [missing-dns-egress]: add " \
           "/spec/egress/0" in out
    ((path, operations),) = fake.patches
    assert path == f"{GROUP}/v1alpha1/baselineadminnetworkpolicies/default"
    assert [(o["op"], o["path"]) for o in operations] == [
        ("test", "/metadata/resourceVersion"), ("test", "/spec/subject"),
        ("add", "/spec/egress/0")]
    (stored,) = fake.objects[("policy.networking.k8s.io", "v1alpha1",
                              "baselineadminnetworkpolicies")]
    assert [r["name"] for r in stored["spec"]["egress"]] == ["allow-dns", "default-deny"]
    code, out, err = run(*base, "--yes")
    assert code == 0 and "nothing to apply" in err, out + err
    assert len(fake.patches) == 1


def test_an_unread_anp_tier_does_not_make_a_cilium_verdict_uncertain(
        fake: FakeApi, kubeconfig: str) -> None:
    """Cilium does not enforce AdminNetworkPolicy (README, policy tiers): the ANPs it
    stores decide nothing, so not reading them changes no verdict; the warning stays."""
    fake.admin_versions = {"v1alpha1"}
    fake.add_all([o for o in m.shop_cluster() if o is not m.DEFAULT_DENY]
                 + [a.CLIENT_TO_WEB, a.anp_deny_client_to_web()])
    fake.forbidden = {"adminnetworkpolicies"}
    code, out, err = run("explain", "--cluster", "--kubeconfig", kubeconfig, "-n", "shop",
                         "--from", "client-5d4b", "--to", "web-7c9f8d", "--port", "8080")
    assert code == 0, err
    assert "UNCERTAIN" not in out
    assert "cannot list adminnetworkpolicies (cluster-scoped): forbidden" in err


def test_diff_of_a_repository_against_the_cluster_names_the_cluster_anp(
        fake: FakeApi, kubeconfig: str, tmp_path: Path) -> None:
    """The cluster holds an ANP Deny the repository does not: the connection it removes is
    attributed to it."""
    fake.admin_versions = {"v1alpha1"}
    objects = shop() + [a.CLIENT_TO_WEB]
    fake.add_all(objects + [a.anp_deny_client_to_web()])
    desired = [o for o in objects if o["kind"] in ("Namespace", "Pod", "Service",
                                                   "NetworkPolicy")
               and (o.get("status") or {}).get("phase") != "Succeeded"]
    (tmp_path / "repo.yaml").write_text(yaml.safe_dump_all(desired))
    code, out, err = run("diff", str(tmp_path), "--cluster", "--kubeconfig", kubeconfig, "-A")
    assert code == 1, err
    assert out.startswith("1 pair(s) differ: 0 added, 1 removed, 0 changed.")
    assert ("because: AdminNetworkPolicy no-client-to-web added (selects "
            "shop/web-7c9f8d[ReplicaSet] for ingress; first matching rule deny-client denies "
            "shop/client-5d4b[ReplicaSet])") in out
