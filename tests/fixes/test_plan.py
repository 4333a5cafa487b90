"""Several fixes on one object in one run: each planned against the object as read."""

from __future__ import annotations

from netpol_fix.fixes.plan import build_plan
from netpol_fix.model.findings import SAFE, UNSAFE, Finding, Fix, Patch
from netpol_fix.model.objects import Location, ObjectRef, SourceObject

NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
SOURCE = SourceObject(NS, Location("ns.yaml", 0, 1))
REF = ObjectRef("v1", "Namespace", None, "shop")


def label_finding(key: str, applicability: str = SAFE) -> Finding:
    ops = [{"op": "test", "path": "/metadata/name", "value": "shop"},
           {"op": "add", "path": "/metadata/labels", "value": {key: "yes"}}]
    fix = Fix(applicability, f"label {key}", [Patch(REF, ops, SOURCE)])
    return Finding("namespace-selector-unmatched", "error", REF, SOURCE, "", fix=fix)


def test_two_fixes_adding_the_same_absent_map_merge_their_keys() -> None:
    plan = build_plan([label_finding("a"), label_finding("b/c")], unsafe=False)
    assert len(plan.applied) == 2 and not plan.skipped
    edit = plan.files["ns.yaml"].edits[(0, None)]
    assert edit.current["metadata"]["labels"] == {"a": "yes", "b/c": "yes"}
    assert edit.changes[1] == {"op": "add", "path": "/metadata/labels/b~1c", "value": "yes"}


def test_unsafe_fixes_need_the_flag_and_stale_tests_are_skipped() -> None:
    assert not build_plan([label_finding("a", UNSAFE)], unsafe=False).applied
    assert build_plan([label_finding("a", UNSAFE)], unsafe=True).applied
    stale = label_finding("a")
    assert stale.fix is not None
    stale.fix.patches[0].operations[0]["value"] = "other"
    plan = build_plan([stale], unsafe=False)
    assert not plan.applied and "changed since the fix was planned" in plan.skipped[0][1]


def test_every_fix_of_the_examples_plans_under_every_cni(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """All fixes, unsafe ones included, under each CNI setting: the plan never fails on a
    kind of flow (ICMP echo from the Cilium rule, ranges, whole protocols)."""
    import json
    from pathlib import Path

    from click.testing import CliRunner

    from netpol_fix.cli import main
    examples = Path(__file__).resolve().parents[2] / "examples"
    for cni in ("cilium", "aws-vpc-cni", "calico", "unknown"):
        result = CliRunner().invoke(main, ["fix", "--dry-run", "--format", "json-patch",
                                           "--unsafe-fixes", "--cni", cni, str(examples)])
        assert result.exit_code == 1, (cni, result.output)
        assert json.loads(result.stdout), cni


def test_the_specific_cause_fix_wins_over_the_generic_one() -> None:
    """Issue 13, one cause one finding: when one-sided-allow's fix and a specific rule's
    fix open the same flow, the specific one is applied even when the generic finding comes
    first in the findings' order, and the generic one is skipped."""
    from netpol_fix.model.findings import Flow

    flow = Flow("shop/Pod/web", "data/Pod/db", "TCP", 5432)
    generic = label_finding("generic", UNSAFE)
    generic.rule = "one-sided-allow"
    specific = label_finding("specific", UNSAFE)
    specific.rule = "pod-selector-own-namespace"
    for finding in (generic, specific):
        assert finding.fix is not None
        finding.fix.opens = [flow]
    plan = build_plan([generic, specific], unsafe=True)
    assert [f.rule for f, _ in plan.applied] == ["pod-selector-own-namespace"]
    assert [(f.rule, why) for f, why in plan.skipped] == [
        ("one-sided-allow", "another fix of this run already opens every flow it would open")]


def test_planning_never_changes_the_object_as_read() -> None:
    """The plan patches its own copy of each object (in place while only its first fix
    holds it) and only reads the object as read, which the inventory shares with the
    next analysis: after two fixes, one of them half-applied and then refused, the source
    holds what it held, and each fix's sequential tests hold the value before it."""
    source = SourceObject({"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": "shop", "labels": {"x": "1"}}},
                          Location("ns.yaml", 0, 1))
    before = repr(source.obj)

    def finding(ops: list[dict[str, object]]) -> Finding:
        fix = Fix(SAFE, "labels", [Patch(REF, ops, source)])
        return Finding("namespace-selector-unmatched", "error", REF, source, "", fix=fix)

    first = finding([{"op": "test", "path": "/metadata/labels/x", "value": "1"},
                     {"op": "replace", "path": "/metadata/labels/x", "value": "2"}])
    half = finding([{"op": "add", "path": "/metadata/labels/y", "value": "3"},
                    {"op": "remove", "path": "/metadata/absent"}])
    second = finding([{"op": "test", "path": "/metadata/labels/x", "value": "1"},
                      {"op": "add", "path": "/metadata/labels/z", "value": "4"}])
    plan = build_plan([first, half, second], unsafe=False)
    assert repr(source.obj) == before
    assert [f for f, _ in plan.applied] == [first, second]
    assert "conflicts with another fix" in plan.skipped[0][1]
    edit = plan.files["ns.yaml"].edits[(0, None)]
    assert edit.current["metadata"]["labels"] == {"x": "2", "z": "4"}
    assert second.fix is not None and plan.operations(second.fix)[0][0] == {
        "op": "test", "path": "/metadata/labels/x", "value": "2"}


def test_a_refused_first_fix_leaves_no_half_applied_edit() -> None:
    """A fix whose second operation fails on a fresh edit (patched in place) is dropped
    whole: the next fix on that object starts from the object as read."""
    source = SourceObject({"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": "shop"}}, Location("ns.yaml", 0, 1))
    half = Fix(SAFE, "half", [Patch(REF, [
        {"op": "add", "path": "/metadata/labels", "value": {"y": "3"}},
        {"op": "remove", "path": "/metadata/absent"}], source)])
    good = Fix(SAFE, "good", [Patch(REF, [
        {"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}], source)])
    plan = build_plan([Finding("namespace-selector-unmatched", "error", REF, source, "",
                               fix=fix) for fix in (half, good)], unsafe=False)
    assert [fx for _f, fx in plan.applied] == [good]
    assert plan.files["ns.yaml"].edits[(0, None)].current == {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "shop", "annotations": {"a": "b"}}}
    assert source.obj == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


def test_json_copy_is_a_deep_copy() -> None:
    from netpol_fix.fixes.plan import json_copy

    shared = {"k": [1, 2.5, True, None, "s"]}
    value = {"a": shared, "b": [shared, [{"c": {}}]], "d": (1, [2])}
    copied = json_copy(value)
    assert copied == value
    copied["a"]["k"].append(3)
    copied["b"][1][0]["c"]["x"] = 1
    copied["d"][1].append(3)
    assert value == {"a": {"k": [1, 2.5, True, None, "s"]},
                     "b": [{"k": [1, 2.5, True, None, "s"]}, [{"c": {}}]], "d": (1, [2])}
    assert copied["b"][0] is not copied["a"]  # a subtree that appears twice: two copies
