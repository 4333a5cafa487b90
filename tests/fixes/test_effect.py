"""flow_changes: what a patch opens and closes, checked against an all-pairs diff."""

from __future__ import annotations

import pytest

from netpol_fix.fixes.effect import flow_changes, flows_closed, flows_opened, patched_policies
from netpol_fix.inventory.model import ObjectRef
from netpol_fix.rules.base import UNSAFE, Fix, Patch
from tests.rules.helpers import apply_fix, connectivity_diff, context, docs, inventory_of
from tests.rules.test_rules_ignored import EGRESS_IGNORED

PATCHES = {
    "enforce egress": [{"op": "replace", "path": "/spec/policyTypes",
                        "value": ["Ingress", "Egress"]}],
    "drop ingress isolation": [{"op": "replace", "path": "/spec/policyTypes",
                                "value": ["Egress"]}],
    "same decisions": [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}],
    "other pods": [{"op": "replace", "path": "/spec/podSelector",
                    "value": {"matchLabels": {"app": "db"}}},
                   {"op": "replace", "path": "/spec/ingress", "value": []}],
}


@pytest.mark.parametrize("name", sorted(PATCHES))
def test_flow_changes_equal_the_all_pairs_difference(name: str) -> None:
    objects = docs(EGRESS_IGNORED)
    ctx = context(objects)
    policy = next(p for p in ctx.inventory.policies if p.name == "web")
    patch = Patch(ObjectRef("networking.k8s.io/v1", "NetworkPolicy", "shop", "web"),
                  PATCHES[name], policy.source)
    new = patched_policies(ctx.inventory, [patch])
    opened, closed = flow_changes(ctx.network, new)
    expected = connectivity_diff(
        ctx, inventory_of(apply_fix(objects, Fix(UNSAFE, "", [patch]))))
    assert (set(opened), set(closed)) == expected
    assert flows_opened(ctx.network, new) == opened
    assert flows_closed(ctx.network, new) == closed
    if name == "same decisions":
        assert opened == closed == []
    else:
        assert opened or closed
