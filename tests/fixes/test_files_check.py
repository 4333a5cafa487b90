"""`fix` checks each file's document split against the lines its reader found the objects
on (yamledit.check_known_documents) instead of counting every parser event again."""

from __future__ import annotations

import pytest

from netpol_fix import yamledit
from netpol_fix.fixes.files import edit_text
from netpol_fix.fixes.plan import build_plan
from netpol_fix.model.findings import SAFE, Finding, Fix, NewObject, Patch
from netpol_fix.model.objects import Location, ObjectRef, SourceObject

TEXT = """# namespaces
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: pay}
"""


def _finding(line: int, document: int = 1) -> Finding:
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pay"}}
    source = SourceObject(obj, Location("ns.yaml", document, line))
    ref = ObjectRef("v1", "Namespace", None, "pay")
    new = NewObject({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "c", "namespace": "pay"}}, after=source)
    fix = Fix(SAFE, "label pay", [Patch(ref, [
        {"op": "test", "path": "/metadata/name", "value": "pay"},
        {"op": "add", "path": "/metadata/labels", "value": {"team": "pay"}}], source)], [new])
    return Finding("namespace-selector-unmatched", "error", ref, source, "", fix=fix)


@pytest.fixture()
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    yamledit._CHECKED.clear()
    bodies: list[str] = []
    real = yamledit._count_documents

    def count(body: str) -> int:
        bodies.append(body)
        return real(body)

    monkeypatch.setattr(yamledit, "_count_documents", count)
    return bodies


def test_the_readers_lines_spare_the_count(counted: list[str]) -> None:
    plan = build_plan([_finding(line=6)], unsafe=False)
    assert plan.files["ns.yaml"].edits[(1, None)].line == 6
    new = edit_text(TEXT, plan.files["ns.yaml"])
    assert new.endswith("metadata: {name: pay, labels: {team: pay}}\n---\napiVersion: v1\n"
                        "kind: ConfigMap\nmetadata:\n  name: c\n  namespace: pay\n")
    assert counted == []


def test_a_line_outside_its_document_gets_the_full_check(counted: list[str]) -> None:
    """Line 2 lies in document 0: the plan was made on another text (or the split is
    wrong); the file is then checked whole as before, and the edit goes on."""
    plan = build_plan([_finding(line=2)], unsafe=False)
    assert "team: pay" in edit_text(TEXT, plan.files["ns.yaml"])
    assert counted == [TEXT]
