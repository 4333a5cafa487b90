"""`diff` attributes a change to an admin policy edit: an ANP's rule turned from Allow to
Deny, a priority swap that changes which policy decides."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from netpol_fix.cli import main

BASE = """\
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: prom, namespace: mon, labels: {app: prom}}
spec: {containers: [{name: c}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: guard}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  ingress:
  - name: from-mon
    action: ACTION
    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: mon}}}]
    ports: [{portNumber: {protocol: TCP, port: 9090}}]
"""


def write(tmp: Path, name: str, text: str) -> str:
    folder = tmp / name
    folder.mkdir()
    (folder / "all.yaml").write_text(text)
    return str(folder)


def test_an_allow_turned_deny_is_attributed_to_the_anp(tmp_path: Path) -> None:
    old = write(tmp_path, "old", BASE.replace("ACTION", "Allow"))
    new = write(tmp_path, "new", BASE.replace("ACTION", "Deny"))
    result = CliRunner().invoke(main, ["diff", old, new])
    assert result.exit_code == 1, result.output
    assert "changed  mon/prom[Pod] => shop/web[Pod]" in result.stdout
    assert "lost: TCP 9090" in result.stdout
    assert ("because: AdminNetworkPolicy guard edited: ingress rule #1 from-mon: Allow "
            "namespaces kubernetes.io/metadata.name=mon on TCP 9090 -> from-mon: Deny "
            "namespaces kubernetes.io/metadata.name=mon on TCP 9090") in result.stdout
    assert "AdminNetworkPolicy guard edited" in result.stdout.split("Input changes:")[1]


def test_an_unchanged_anp_is_not_a_difference(tmp_path: Path) -> None:
    old = write(tmp_path, "old", BASE.replace("ACTION", "Deny"))
    new = write(tmp_path, "new", "# reformatted\n" + BASE.replace("ACTION", "Deny"))
    result = CliRunner().invoke(main, ["diff", old, new])
    assert result.exit_code == 0, result.output


CNP = """\
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
spec: {containers: [{name: c}]}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api-ingress, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: web}}]
    toPorts: [{ports: [{port: "PORT", protocol: TCP}]}]
"""


def test_a_cilium_policy_edit_is_attributed(tmp_path: Path) -> None:
    old = write(tmp_path, "old", CNP.replace("PORT", "8080"))
    new = write(tmp_path, "new", CNP.replace("PORT", "9090"))
    result = CliRunner().invoke(main, ["diff", old, new])
    assert result.exit_code == 1, result.output
    assert "changed  shop/web[Pod] => shop/api[Pod]" in result.stdout
    assert ("because: CiliumNetworkPolicy shop/api-ingress edited: ingress rules of the rule "
            "sets selecting shop/api[Pod]") in result.stdout
