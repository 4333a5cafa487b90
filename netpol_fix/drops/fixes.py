"""The fixes of all explained groups as one run, for `drops --fix --dry-run`.

Each group's fix is computed alone (as `explain --fix` would), so two groups from the same
workload both create `<workload>-allow-egress`. Here the second one's rules join the first
new policy (same podSelector, so the same pods) instead of a second object of the same
name; a new policy for other pods that still collides gets the next free name. The groups'
own fixes (in the JSON output) are left as they were: copies are merged.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from netpol_fix.drops.explain import Explanation
from netpol_fix.model.findings import Finding, Fix, NewObject

DROP_RULE = "observed-drop"


def _name_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace")), str(meta.get("name"))


def drop_findings(explanations: Sequence[Explanation]) -> list[Finding]:
    """One finding per group with a fix, new policies merged as the module says."""
    created: dict[tuple[str, str], dict[str, Any]] = {}
    findings: list[Finding] = []
    for explanation in explanations:
        fix = explanation.fix
        if fix is None:
            continue
        creates: list[NewObject] = []
        for new in fix.creates:
            obj = copy.deepcopy(new.obj)
            key = _name_key(obj)
            first = created.get(key)
            if first is not None and first["spec"].get("podSelector") == \
                    obj["spec"].get("podSelector"):
                _merge(first, obj)
                continue
            n = 1
            while key in created:
                n += 1
                obj["metadata"]["name"] = f"{_name_key(new.obj)[1]}-{n}"
                key = _name_key(obj)
            created[key] = obj
            creates.append(NewObject(obj, new.after))
        merged = Fix(fix.applicability, fix.description, list(fix.patches), creates,
                     list(fix.opens))
        if fix.patches:
            ref, source = fix.patches[0].object, fix.patches[0].source
        else:
            ref, source = fix.creates[0].ref, fix.creates[0].after
        rule = explanation.causes[0] if explanation.causes else DROP_RULE
        findings.append(Finding(rule, "error", ref, source, explanation.explanation,
                                fix=merged))
    return findings


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    spec, extra = into["spec"], other["spec"]
    for direction in ("Ingress", "Egress"):
        rules = extra.get(direction.lower())
        if not rules:
            continue
        spec.setdefault(direction.lower(), []).extend(rules)
        types = spec.setdefault("policyTypes", [])
        if direction not in types:
            types.append(direction)
