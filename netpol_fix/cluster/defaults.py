"""The defaults the API server fills in, so that manifest values compare with live ones.

A fix planned from a manifest tests the values the manifest holds; the live object holds the
same values after the API server's defaulting. A port written without `protocol` is stored
with `protocol: TCP`, so `test /spec/ingress` from the file would fail against the live
object although nobody changed it. Comparing both sides after the same defaulting keeps the
guard strict about real changes and blind to defaulting. Only NetworkPolicy
(`SetDefaults_NetworkPolicyPort` and the `policyTypes` rule of the API) is defaulted here:
Cilium's own defaults differ (a port without protocol means ANY) and are left alone.
"""

from __future__ import annotations

import copy
from typing import Any


def with_defaults(obj: Any) -> Any:
    """A copy of `obj` with NetworkPolicy API defaults filled in (other kinds unchanged)."""
    if not isinstance(obj, dict) or obj.get("kind") != "NetworkPolicy":
        return obj
    out = copy.deepcopy(obj)
    spec = out.get("spec")
    if not isinstance(spec, dict):
        return out
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            if isinstance(rule, dict):
                for port in rule.get("ports") or []:
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
    return out
