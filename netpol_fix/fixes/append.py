"""Operations that append rules to a NetworkPolicy: the one way every fix adds a rule.

Shared by the rules (missing-dns-egress, one-sided-allow) and the flow fixes of `explain
--fix`, so that every appended rule is guarded by the same `test` operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from netpol_fix.model.policy import NetworkPolicy


def append_rule_operations(policy: NetworkPolicy, direction: str,
                           rule: dict[str, Any]) -> list[dict[str, Any]]:
    """Operations that append one rule to spec.ingress/spec.egress, guarded by tests.

    The tests pin what the fix relied on: the pods the policy selects, its policyTypes, and
    the rule list it appends to. An `add` of the whole array where it does not exist yet.
    """
    assert policy.source is not None
    spec = policy.source.obj.get("spec") or {}
    field = direction.lower()
    ops: list[dict[str, Any]] = []
    if "podSelector" in spec:
        ops.append({"op": "test", "path": "/spec/podSelector", "value": spec["podSelector"]})
    if "policyTypes" in spec:
        ops.append({"op": "test", "path": "/spec/policyTypes", "value": spec["policyTypes"]})
    existing = spec.get(field)
    if isinstance(existing, list):
        ops.append({"op": "test", "path": f"/spec/{field}", "value": existing})
        ops.append({"op": "add", "path": f"/spec/{field}/-", "value": rule})
    else:
        ops.append({"op": "add", "path": f"/spec/{field}", "value": [rule]})
    return ops


def append_rules_operations(policy: NetworkPolicy, direction: str,
                            rules: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`append_rule_operations` for the first rule, then appends of the others."""
    field = direction.lower()
    return append_rule_operations(policy, direction, rules[0]) + [
        {"op": "add", "path": f"/spec/{field}/-", "value": rule} for rule in rules[1:]]
