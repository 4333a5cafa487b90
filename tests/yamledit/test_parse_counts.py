"""The editor parses what it must and no more: `fix` on a repository needing thousands of
edits spent most of its time parsing the same texts again (issue 16's broken tree)."""

from __future__ import annotations

from typing import Any

import pytest

from netpol_fix import yamledit
from netpol_fix.yamledit import splice

TEXT = """# two policies
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a, namespace: shop}
spec:
  podSelector: {}
  egress:
  - to:
    - podSelector: {matchLabels: {app: db}}  # the database
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b, namespace: shop}
spec:
  podSelector: {}
"""
RULE = {"to": [{"podSelector": {"matchLabels": {"app": "cache"}}}]}


def _count(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    calls = [0]
    real = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_one_append_parses_the_document_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tree read to learn the layout (with the document's data, from one parse)
    serves the first operation too; the result is still read back and compared with
    jsonpatch's answer."""
    top = _count(monkeypatch, yamledit, "parse_document")
    inner = _count(monkeypatch, splice, "parse_tree")
    new = yamledit.apply_operations(TEXT, 0, [{"op": "add", "path": "/spec/egress/-",
                                               "value": RULE}])
    assert "app: cache" in new and "# the database" in new
    assert (top[0], inner[0]) == (1, 0)


def test_a_second_operation_parses_the_changed_text(monkeypatch: pytest.MonkeyPatch) -> None:
    inner = _count(monkeypatch, splice, "parse_tree")
    new = yamledit.apply_operations(TEXT, 0, [
        {"op": "add", "path": "/spec/egress/-", "value": RULE},
        {"op": "add", "path": "/spec/policyTypes", "value": ["Egress"]}])
    assert inner[0] == 1  # the text changed after the first: parsed again, once
    assert "policyTypes:" in new and "app: cache" in new


def test_edits_then_new_documents_check_the_stream_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    checks = _count(monkeypatch, yamledit, "_check_stream")
    yamledit._CHECKED.clear()
    edited = yamledit.apply_operations(TEXT, 1, [{"op": "add", "path": "/spec/egress",
                                                  "value": [RULE]}])
    final = yamledit.append_document(edited, 1, {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": "x"}})
    assert checks[0] == 1
    assert final.count("---") == 2 and final.endswith("  name: x\n")


def test_an_edit_that_changes_the_document_count_is_checked_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Only an edited stream the markers still split into as many documents counts as
    checked (the rule of _edited_is_checked); any other body is parsed whole."""
    checks = _count(monkeypatch, yamledit, "_check_stream")
    yamledit._CHECKED.clear()
    yamledit._edited_is_checked(TEXT + "---\nkind: X\n", 2)
    yamledit.append_document(TEXT + "---\nkind: X\n", 0, {"kind": "Y"})
    assert checks[0] == 1
