"""The canonical form of fixes as `fix --format json-patch` prints and `apply` reads it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from netpol_fix.model.findings import Finding, Fix


def patch_entries(finding: Finding, fx: Fix,
                  operations: Sequence[list[dict[str, Any]]] | None = None
                  ) -> list[dict[str, Any]]:
    """`fix --format json-patch` elements for one fix: its canonical form, one element per
    object it patches (the fix's `creates`, `opens` and `opensSummary` ride on the first element).
    `operations` (per patch) replaces the fix's own when the run applies several fixes to
    one object: the plan's sequence (Plan.operations), which applied in order gives the
    edited documents."""
    chosen = list(operations) if operations is not None else [p.operations for p in fx.patches]
    entries: list[dict[str, Any]] = [{
        "rule": finding.rule,
        "object": patch.object.as_dict(),
        "operations": ops,
        "creates": [],
        "opens": [],
        "applicability": fx.applicability,
    } for patch, ops in zip(fx.patches, chosen)]
    if not entries:
        entries.append({"rule": finding.rule,
                        "object": fx.creates[0].ref.as_dict() if fx.creates else None,
                        "operations": [], "creates": [], "opens": [],
                        "applicability": fx.applicability})
    entries[0]["creates"] = [new.obj for new in fx.creates]
    entries[0]["opens"] = [flow.to_json() for flow in fx.opens]
    entries[0]["opensSummary"] = fx.opens_summary()
    return entries
