"""From findings to edited files: which fixes apply, and the combined edit per document.

Each fix's operations were planned against the object as it was read. Several fixes may
touch one object (a DNS rule and a policyTypes fix on the same default-deny), so per object:
every fix's `test` operations are checked against the object as read, then the changing
operations are applied one fix after another to the evolving object. An `add` of a whole
array that an earlier fix of this run already created becomes appends, so no fix undoes
another. The file edit then receives one operation list per document.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import jsonpointer

from netpol_fix.model.connset import MAX_PORT, ConnSet
from netpol_fix.model.findings import PORT_PROTOCOLS, SAFE, Finding, Fix, Flow, NewObject
from netpol_fix.model.objects import SourceObject


class PlanError(ValueError):
    pass


@dataclass
class DocumentEdit:
    """All operations for one document of one file (paths relative to the object)."""

    file: str
    document: int
    item_index: int | None
    original: dict[str, Any]
    """The object as read: shared with the inventory, so never changed."""
    tests: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    current: dict[str, Any] = field(default_factory=dict)
    spec_defaulted: str | None = None
    """The document has no `spec` mapping ("absent" or "null", see SourceObject): the file
    edit writes `spec: {}` before the operations."""
    line: int | None = None
    """The object's first line as the reader found it (the file edit checks the document
    split against it)."""

    @property
    def operations(self) -> list[dict[str, Any]]:
        return self.tests + self.changes


@dataclass
class FilePlan:
    file: str
    edits: dict[tuple[int, int | None], DocumentEdit] = field(default_factory=dict)
    creates: list[tuple[int, int | None, NewObject]] = field(default_factory=list)
    """New objects: the document (and, in a `kind: List`, the item) each goes after."""


@dataclass
class Plan:
    files: dict[str, FilePlan] = field(default_factory=dict)
    applied: list[tuple[Finding, Fix]] = field(default_factory=list)
    skipped: list[tuple[Finding, str]] = field(default_factory=list)
    sequential: dict[int, list[list[dict[str, Any]]]] = field(default_factory=dict)
    """Per applied fix (by id), per patch: its operations as they apply after the fixes
    before it in `applied` (tests of the object as it is then, rebased changes). Applied
    in order, one after another, they give exactly the edited documents."""

    def operations(self, fix: Fix) -> list[list[dict[str, Any]]]:
        """The fix's operations per patch, in sequence with the run's other fixes."""
        return self.sequential.get(id(fix)) or [patch.operations for patch in fix.patches]


def chosen_fix(finding: Finding, unsafe: bool) -> Fix | None:
    fix = finding.fix
    if fix is None:
        return None
    if fix.applicability == SAFE or (unsafe and fix.applicability == "unsafe"):
        return fix
    return None


GENERIC_RULES = frozenset({"one-sided-allow"})
"""Rules that see a denied flow from outside (one side allows what the other denies)
rather than name its cause: when a specific rule's fix opens the same flows, that one is
applied (it corrects the dead peer or the policyTypes) and the generic one skipped."""


def build_plan(findings: Sequence[Finding], unsafe: bool) -> Plan:
    """The fixes to apply, in the findings' order. An unsafe fix whose flows the safe
    fixes, or other unsafe ones, already open is skipped: two findings may describe one
    denied connection from two sides (a selector naming no namespace and the explicit
    allow it leaves one-sided), and applying both would write the same access twice. Which
    one is kept is decided in priority order: safe fixes, then the specific rules' unsafe
    fixes in the findings' order, then the generic rules' (GENERIC_RULES), so the fix that
    corrects the cause wins even when the generic finding comes first."""
    plan = Plan()
    chosen = [(finding, chosen_fix(finding, unsafe)) for finding in findings]
    opened = _Opened()
    for _finding, fix in chosen:
        if fix is not None and fix.applicability == SAFE:
            opened.add(fix)
    covered: set[int] = set()
    for finding, fix in sorted(chosen, key=lambda item: item[0].rule in GENERIC_RULES):
        if fix is None or fix.applicability == SAFE:
            continue
        if fix.opens and opened.covers(fix):
            covered.add(id(fix))
        else:
            opened.add(fix)
    for finding, fix in chosen:
        if fix is None:
            continue
        if id(fix) in covered:
            reason = "another fix of this run already opens every flow it would open"
            plan.skipped.append((finding, reason))
            continue
        try:
            _add_fix(plan, fix)
        except PlanError as err:
            plan.skipped.append((finding, str(err)))
            continue
        plan.applied.append((finding, fix))
    return plan


class _Opened:
    """The connections a run's fixes open, per (source, destination)."""

    def __init__(self) -> None:
        self._conns: dict[tuple[str, str], ConnSet] = {}

    @staticmethod
    def _flow_conns(flow: Flow) -> ConnSet:
        if flow.protocol is None:
            return ConnSet.all()
        if flow.protocol not in PORT_PROTOCOLS:
            return ConnSet(other=True)  # ICMP (a CiliumNetworkPolicy's echo rule)
        if flow.port is None:
            return ConnSet.ports(flow.protocol, 1, MAX_PORT)
        return ConnSet.ports(flow.protocol, flow.port, flow.end_port or flow.port)

    def add(self, fix: Fix) -> None:
        for flow in fix.complete_opens():
            key = (flow.source, flow.destination)
            self._conns[key] = self._conns.get(key, ConnSet.none()) | self._flow_conns(flow)

    def covers(self, fix: Fix) -> bool:
        return all(not self._flow_conns(flow) - self._conns.get(
            (flow.source, flow.destination), ConnSet.none()) for flow in fix.complete_opens())


def _source_file(source: SourceObject | None, what: str) -> tuple[str, int, int | None]:
    if source is None:
        also = ", or rewrite the selector instead with --prefer-selector" \
            if what.startswith("Namespace ") else ""
        raise PlanError(f"no file holds {what} (the fix patches the live object): apply it "
                        f"with `netpol-fix apply --cluster`{also}")
    if source.location is None:
        raise PlanError(f"{what} was read from the cluster, not a file: apply with "
                        "`netpol-fix apply --cluster`")
    return source.location.file, source.location.document, source.item_index


def _add_fix(plan: Plan, fix: Fix) -> None:
    """Stage every patch of the fix; commit them only when all of them apply."""
    staged: list[tuple[DocumentEdit, list[dict[str, Any]], list[dict[str, Any]],
                       dict[str, Any], list[dict[str, Any]]]] = []
    for patch in fix.patches:
        file, document, item = _source_file(patch.source, str(patch.object))
        assert patch.source is not None
        existing = plan.files.get(file)
        edit = existing.edits.get((document, item)) if existing else None
        fresh = edit is None
        if edit is None:
            # `original` is only read (tests, rebasing), never changed: the object as read,
            # shared with the inventory; `current` is the plan's own copy
            edit = DocumentEdit(file, document, item, patch.source.obj,
                                current=json_copy(patch.source.obj),
                                spec_defaulted=patch.source.spec_defaulted,
                                line=patch.source.location.line
                                if patch.source.location else None)
        tests = [op for op in patch.operations if op["op"] == "test"]
        changes = [op for op in patch.operations if op["op"] != "test"]
        try:
            jsonpatch.apply_patch(edit.original, tests, in_place=True)  # tests change nothing
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as err:
            raise PlanError(f"the object changed since the fix was planned: {err}") from None
        flat = [rebased for op in changes for rebased in _rebase(op, edit.original,
                                                                   edit.current)]
        # the tests as they hold when this fix applies after the earlier ones of the run (an
        # earlier fix may have changed a value this one relied on, e.g. appended a rule)
        retests = [_retest(op, edit.current) for op in tests]
        try:
            # a fresh edit's `current` is a copy nothing else holds yet (dropped if any
            # patch of the fix fails): patched in place instead of copied again
            after = jsonpatch.apply_patch(edit.current, flat, in_place=fresh)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as err:
            raise PlanError(f"conflicts with another fix of this run: {err}") from None
        staged.append((edit, tests, flat, after, retests))
    plan.sequential[id(fix)] = [retests + flat for _e, _t, flat, _a, retests in staged]
    for edit, tests, flat, after, _retests in staged:
        file_plan = plan.files.setdefault(edit.file, FilePlan(edit.file))
        file_plan.edits[(edit.document, edit.item_index)] = edit
        edit.tests.extend(op for op in tests if op not in edit.tests)
        edit.changes.extend(flat)
        edit.current = after
    for new in fix.creates:
        file, document, item = _source_file(new.after, str(new.ref))
        plan.files.setdefault(file, FilePlan(file)).creates.append((document, item, new))


def json_copy(value: Any) -> Any:
    """A deep copy of data read from YAML or JSON (mappings, lists, scalars) without
    copy.deepcopy's generic dispatch and memo (7.0 against 10.3 us for a NetworkPolicy of
    three rules; `fix` copies thousands of objects and tested values). Anything else is
    handed to copy.deepcopy. A subtree that appears twice (an
    alias read through PyYAML's full constructor) is copied once per place, as the text
    holds it."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    if value is None or isinstance(value, (str, int, float)):
        return value  # immutable (bool is an int)
    return copy.deepcopy(value)


def _retest(op: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """A `test` operation with the value the object has now (it passed on the object as
    read; the fixes before it in the run may have changed that value)."""
    pointer = jsonpointer.JsonPointer(op["path"])
    if not _resolves(pointer, current):
        return op
    return {**op, "value": json_copy(pointer.resolve(current))}


def _rebase(op: dict[str, Any], original: dict[str, Any],
            current: dict[str, Any]) -> list[dict[str, Any]]:
    """An `add` of a whole array (or map) where the original had none but an earlier fix of
    this run added one turns into appends of its items (or adds of its keys), so the second
    fix extends what the first created instead of replacing it."""
    value = op.get("value")
    if op["op"] != "add" or not isinstance(value, (list, dict)) or op["path"].endswith("/-"):
        return [op]
    pointer = jsonpointer.JsonPointer(op["path"])
    if _resolves(pointer, original) or not _resolves(pointer, current):
        return [op]
    existing = pointer.resolve(current)
    if isinstance(value, list) and isinstance(existing, list):
        return [{"op": "add", "path": f"{op['path']}/-", "value": item} for item in value]
    if isinstance(value, dict) and isinstance(existing, dict):
        return [{"op": "add", "path": f"{op['path']}/{jsonpointer.escape(key)}", "value": item}
                for key, item in value.items()]
    return [op]


def _resolves(pointer: jsonpointer.JsonPointer, obj: Any) -> bool:
    try:
        pointer.resolve(obj)
    except jsonpointer.JsonPointerException:
        return False
    return True
