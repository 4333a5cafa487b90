"""The whole-file check before an edit: a file that does not parse, or holds a template
expression in any document, is refused; the marker split must agree with the parser.

A file without ``{{`` and ``}}`` is only parsed and its documents counted (no plain scalar
can hold a template there); any other is walked scalar by scalar, as before."""

from __future__ import annotations

import pytest

from netpol_fix import yamledit
from netpol_fix.yamledit import EditError, apply_operations
from netpol_fix.yamledit.documents import DocumentSpan

POLICY = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a, namespace: shop}
spec:
  podSelector: {}
  egress: []
"""
ADD = [{"op": "add", "path": "/spec/egress/-", "value": {"to": []}}]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    yamledit._CHECKED.clear()


def _walks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    walked: list[str] = []
    real = yamledit._walk_for_templates

    def walk(body: str) -> int:
        walked.append(body)
        return real(body)

    monkeypatch.setattr(yamledit, "_walk_for_templates", walk)
    return walked


@pytest.mark.parametrize("other, message", [
    ("{{- if .Values.enabled }}\nkind: ConfigMap\n{{- end }}\n",
     r"file does not parse as YAML \(it contains {{ }}: a Helm or other template\?\)"),
    ("kind: ConfigMap\ndata:\n  name: web-{{ .Values.x }}\n", "line 10: template expression"),
    ("kind: ConfigMap\ndata:\n  name: x}}\n", "line 10: template expression 'x}}'"),
])
def test_a_template_in_another_document_refuses_the_file(
        monkeypatch: pytest.MonkeyPatch, other: str, message: str) -> None:
    walked = _walks(monkeypatch)
    text = POLICY + "---\n" + other
    with pytest.raises(EditError, match=message):
        apply_operations(text, 0, ADD)
    assert walked == [text]


def test_a_syntax_error_in_another_document_refuses_the_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No braces: the file is only parsed and counted, and the parser's error is the
    message, as before."""
    walked = _walks(monkeypatch)
    with pytest.raises(EditError, match=r"file does not parse as YAML: while parsing a flow "
                                        r"sequence .* line 9"):
        apply_operations(POLICY + "---\nkind: ConfigMap\ndata: [a\n", 0, ADD)
    assert walked == []


def test_quoted_braces_and_nested_flow_mappings_are_no_template(
        monkeypatch: pytest.MonkeyPatch) -> None:
    walked = _walks(monkeypatch)
    text = POLICY + '---\nkind: ConfigMap\ndata:\n  t: "{{ x }}"\n  s: {a: {b: c}}\n'
    assert "to: []" in apply_operations(text, 0, ADD)
    assert walked == [text]


def test_a_plain_file_is_counted_without_the_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    walked = _walks(monkeypatch)
    text = "\n".join([POLICY, "---", POLICY.replace("name: a", "name: b"), "...", ""])
    new = apply_operations(text, 1, ADD)
    assert new.count("to: []") == 1 and new.index("to: []") > new.index("name: b")
    assert walked == []


@pytest.mark.parametrize("text", [
    POLICY + "---\n" + POLICY,
    POLICY + "---\n" + POLICY + "---\nx: '{{ y }}'\n",
], ids=["counted", "walked"])
def test_a_split_the_parser_disagrees_with_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                      text: str) -> None:
    """The split by markers is cross-checked with the parser's count on both paths."""
    monkeypatch.setattr(yamledit, "split_documents",
                        lambda body: [DocumentSpan(0, len(body))])
    with pytest.raises(EditError, match=r"internal: found 1 documents by markers but the "
                                        r"parser found [23]; refusing to edit"):
        apply_operations(text, 0, ADD)


# -- a caller that numbered the documents (fix: the inventory's reader) -----------------

TWO = POLICY + "---\n" + POLICY.replace("name: a", "name: b")
"""Document 0's object starts on line 1, document 1's on line 8."""


def _counts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    counted: list[str] = []
    real = yamledit._count_documents

    def count(body: str) -> int:
        counted.append(body)
        return real(body)

    monkeypatch.setattr(yamledit, "_count_documents", count)
    return counted


def test_known_documents_spare_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    counted, walked = _counts(monkeypatch), _walks(monkeypatch)
    yamledit.check_known_documents(TWO, [(0, 1), (1, 8)])
    new = apply_operations(TWO, 1, ADD)
    assert new.index("to: []") > new.index("name: b")
    assert counted == [] and walked == []


@pytest.mark.parametrize("lines", [[], [(1, 3)], [(0, 1), (2, 9)], [(1, 8), (0, 7)]],
                         ids=["none", "line-elsewhere", "no-such-document", "the-marker"])
def test_lines_that_do_not_fit_the_split_get_the_full_check(
        monkeypatch: pytest.MonkeyPatch, lines: list[tuple[int, int]]) -> None:
    """Line 7 is the `---` that starts document 1: not in document 0's span."""
    counted = _counts(monkeypatch)
    yamledit.check_known_documents(TWO, lines)
    assert counted == [TWO]


@pytest.mark.parametrize("other, message", [
    ("kind: ConfigMap\ndata: [a\n",
     r"file does not parse as YAML: while parsing a flow sequence .* line 16"),
    ("kind: ConfigMap\ndata:\n  name: web-{{ .Values.x }}\n", "line 17: template expression"),
])
def test_known_documents_keep_the_refusals(other: str, message: str) -> None:
    text = TWO + "---\n" + other
    with pytest.raises(EditError, match=message):
        yamledit.check_known_documents(text, [(0, 1), (1, 8)])
    with pytest.raises(EditError, match=message):  # not remembered as checked
        apply_operations(text, 0, ADD)


def test_a_split_that_merges_documents_is_still_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Were the markers to miss a document boundary, the caller's line would still lie in
    the merged span; the count is not made, but the edited document and the anchor of a
    new one are each read alone and must be exactly one document."""
    monkeypatch.setattr(yamledit, "split_documents",
                        lambda body: [DocumentSpan(0, len(body))])
    yamledit.check_known_documents(TWO, [(0, 1)])
    with pytest.raises(EditError, match="expected one document in the edited range, found 2"):
        apply_operations(TWO, 0, ADD)
    with pytest.raises(EditError, match="expected one document in the edited range, found 2"):
        yamledit.append_document(TWO, 0, {"kind": "Namespace"})
