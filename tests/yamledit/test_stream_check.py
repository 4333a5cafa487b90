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
