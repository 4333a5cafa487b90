"""`explain --fix` where only a CiliumNetworkPolicy isolates the denying side: the rule goes
into Cilium's kind (rules/cilium_flow_fix.py), and the edited files admit the flow.

Cilium's policy language reference, "Endpoint default policy": an endpoint selected by a
rule set with an ingress section is in default deny for ingress, and allows add up
("policies are additive"); a peer selector names another namespace only with
`k8s:io.kubernetes.pod.namespace` ("Kubernetes": namespace-scoped policies)."""

from __future__ import annotations

import difflib
from pathlib import Path

from click.testing import CliRunner

from netpol_fix.cli import main

BASE = """apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: data}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: w, image: x}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: data}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db, tier: data}}
    spec: {containers: [{name: d, image: x, ports: [{containerPort: 5432}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cache, namespace: data}
spec:
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache, tier: data}}
    spec: {containers: [{name: c, image: x}]}
"""
OWN_CNP = """---
# db admits only the backup job
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db-ingress, namespace: data}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints:
    - matchLabels: {app: backup}
    toPorts:
    - ports: [{port: "5432", protocol: TCP}]
"""
NAMESPACE_CNP = """---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: data-default-deny, namespace: data}
spec:
  endpointSelector: {}
  ingress:
  - {}
  enableDefaultDeny: {ingress: true}
"""


def _explain(path: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["explain", "--cni", "cilium", str(path), "--from",
                                       "shop/web", "--to", "data/db", "--port", "5432",
                                       *extra])
    return result.exit_code, result.output


def _applied(path: Path, output: str) -> str:
    """The file after the diff of `output` (one file, hunks in order)."""
    old = path.read_text().splitlines(keepends=True)
    lines = output[output.index("@@"):].splitlines(keepends=True)
    new: list[str] = []
    at = 0
    for line in lines:
        if line.startswith("@@"):
            start = int(line.split()[1].split(",")[0][1:]) - 1
            new += old[at:start]
            at = start
        elif line.startswith((" ", "-")):
            assert old[at][:-1] == line[1:-1], (old[at], line)
            at += 1
            if line.startswith(" "):
                new.append(old[at - 1])
        elif line.startswith("+"):
            new.append(line[1:])
    return "".join(new + old[at:])


def test_the_isolating_cnp_gets_the_rule_and_the_flow_is_admitted(tmp_path: Path) -> None:
    path = tmp_path / "all.yaml"
    path.write_text(BASE + OWN_CNP)
    code, out = _explain(path, "--fix")
    assert code == 1 and "DENIED" in out.splitlines()[0]
    assert "append 1 ingress rule(s) to CiliumNetworkPolicy data/db-ingress from " \
           "shop/web[Deployment] on TCP 5432" in out
    assert "opens shop/Deployment/web -> data/Deployment/db TCP 5432" in out
    assert "+        k8s:io.kubernetes.pod.namespace: shop\n" in out
    edited = _applied(path, out)
    assert "# db admits only the backup job" in edited  # the comment stays
    changed = [d for d in difflib.ndiff(path.read_text().splitlines(), edited.splitlines())
               if d[:1] in "+-"]
    assert all(d.startswith("+") for d in changed)  # only added lines
    path.write_text(edited)
    code, out = _explain(path)
    assert code == 0 and "ALLOWED" in out.splitlines()[0]


def test_a_namespace_wide_cnp_gets_a_new_cnp_for_the_workload(tmp_path: Path) -> None:
    """`endpointSelector: {}` selects every pod of the namespace, later ones too: the rule
    goes into a new CiliumNetworkPolicy selecting db by its labels, so cache stays denied."""
    path = tmp_path / "all.yaml"
    path.write_text(BASE + NAMESPACE_CNP)
    code, out = _explain(path, "--fix")
    assert code == 1
    assert "create CiliumNetworkPolicy data/db-allow-ingress" in out
    assert "opens shop/Deployment/web -> data/Deployment/db TCP 5432" in out
    assert "cache" not in out[out.index("Fix ("):]
    path.write_text(_applied(path, out))
    assert _explain(path)[0] == 0
    cache = CliRunner().invoke(main, ["explain", "--cni", "cilium", str(path), "--from",
                                      "shop/web", "--to", "data/cache", "--port", "5432"])
    assert cache.exit_code == 1 and "DENIED" in cache.output.splitlines()[0]


def test_a_cilium_deny_rule_gets_no_allow_and_says_so(tmp_path: Path) -> None:
    """Cilium: "deny policies take precedence over allow policies"; an allow rule would open
    nothing, so no fix is offered, and the output says why."""
    path = tmp_path / "all.yaml"
    path.write_text(BASE + OWN_CNP.replace("  ingress:\n", """  ingressDeny:
  - fromEndpoints:
    - matchLabels: {k8s:io.kubernetes.pod.namespace: shop}
  ingress:
"""))
    code, out = _explain(path, "--fix")
    assert code == 1 and "Fix (" not in out
    assert "No fix offered" in out


def test_both_sides_denying_get_no_partial_fix(tmp_path: Path) -> None:
    """One side's rule alone would open nothing: no fix rather than half of one."""
    path = tmp_path / "all.yaml"
    path.write_text(BASE + OWN_CNP + """---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toEndpoints:
    - matchLabels: {app: other}
""")
    code, out = _explain(path, "--fix")
    assert code == 1 and "Fix (" not in out and "No fix offered" in out
