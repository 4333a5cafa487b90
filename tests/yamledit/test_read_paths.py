"""The editor's two ways of reading a document, and what they must never change.

A document whose text holds none of ``& * !`` (and no template expression) is read once
through libyaml's composer, for its position tree and its data; any other goes through the
C parser's events (locate.py). Every edited document is read back through the same
constructor (netpol_fix.yamldata) as the original, and compared with jsonpatch's answer.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netpol_fix import yamledit
from netpol_fix.yamldata import load_single
from netpol_fix.yamledit import EditError, apply_operations, splice
from netpol_fix.yamledit.documents import split_documents
from netpol_fix.yamledit.locate import (
    Node,
    _composed,
    _event_tree,
    _tree_of,
    parse_document,
    parse_tree,
)
from tests.corpus_path import corpus_path

REPO = Path(__file__).resolve().parents[2]

NETPOL = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web  # the front end
  annotations: {owner: "team-a", since: 2024-01-01, "n": 0x1F}
spec:
  podSelector:
    matchLabels: {app: web}
  egress:
  - to:
    - podSelector: {matchLabels: {app: db}}
    ports:
    - {port: 5432, protocol: TCP}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {team: "pay"}
      podSelector:
        matchLabels:
          'tier': >-
            web
"""
RULE = {"to": [{"podSelector": {"matchLabels": {"app": "cache"}}}]}


def _documents() -> Iterator[str]:
    """Every document of the golden editor inputs, the examples and the corpus."""
    files = sorted((REPO / "golden" / "yamledit").glob("*/input.*"))
    files += sorted((REPO / "examples").rglob("*.yaml"))
    files += sorted(p for p in corpus_path().rglob("*") if p.suffix in (".yaml", ".yml"))
    for path in files:
        try:
            text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            continue
        for span in split_documents(text):
            yield text[span.start:span.end]


def _shape(node: Node | None, parent: Node | None = None) -> Any:
    """Everything parse_tree records of a node, parent links included."""
    if node is None:
        return None
    assert node.parent is parent
    return (node.kind, node.start, node.end, node.flow, node.style, node.value, node.anchor,
            node.tag, [_shape(i, node) for i in node.items],
            [(_shape(k, node), _shape(v, node)) for k, v in node.pairs])


def test_the_composed_tree_is_the_event_tree() -> None:
    """Positions, styles, values and structure agree node for node on every document of
    the golden inputs, the examples and the third-party corpus that the composed path
    reads (block and flow styles, every quoting, block scalars, comments, JSON)."""
    compared = 0
    for chunk in _documents():
        composed = _composed(chunk)
        if composed is None:
            continue
        loader, node = composed
        try:
            tree = _tree_of(chunk, node)
        finally:
            loader.dispose()
        if tree is None:
            continue
        assert _shape(tree.root) == _shape(_event_tree(chunk, 0).root), chunk[:200]
        compared += 1
    assert compared > 1000


def test_parse_document_gives_the_data_of_the_shared_reader() -> None:
    """The original's data, built from the same parse as its tree, is what the read-back
    constructor (netpol_fix.yamldata) builds from the text: timestamps stay strings as
    Kubernetes reads them, hex ints are ints."""
    tree, data = parse_document(NETPOL)
    assert data == load_single(NETPOL)
    assert data["metadata"]["annotations"] == {"owner": "team-a", "since": "2024-01-01",
                                               "n": 31}
    assert tree.root is not None and tree.root.kind == "mapping"


def test_one_parse_per_side_of_the_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    """An edit of a plain document composes the original once (tree and data) and the
    edited text once (the read-back); no event walk of the document."""
    import netpol_fix.yamldata.loader as loader_module
    composed: list[str] = []
    real = loader_module.compose_single

    def counted(text: str) -> Any:
        composed.append(text)
        return real(text)

    monkeypatch.setattr(loader_module, "compose_single", counted)
    monkeypatch.setattr("netpol_fix.yamledit.locate.compose_single", counted)
    events = []
    monkeypatch.setattr("netpol_fix.yamledit.locate._event_tree",
                        lambda *a: events.append(a) or pytest.fail("event path used"))
    yamledit._CHECKED.clear()
    new = apply_operations(NETPOL, 0, [{"op": "add", "path": "/spec/egress/-", "value": RULE}])
    assert "app: cache" in new and "# the front end" in new
    assert composed == [NETPOL, new] and events == []


def _wrong_append(monkeypatch: pytest.MonkeyPatch, wrong: str) -> None:
    """The editor appends as usual, then one character of the new rule is wrong."""
    real = splice.DocumentEditor.append

    def append(self: splice.DocumentEditor, tokens: list[str], values: list[Any]) -> None:
        real(self, tokens, values)
        self.text = self.text.replace("app: cache", wrong)

    monkeypatch.setattr(splice.DocumentEditor, "append", append)


@pytest.mark.parametrize("text", [NETPOL, NETPOL.replace("name: web", "name: &n web")],
                         ids=["composed", "events"])
def test_a_wrong_edit_is_caught_by_the_read_back(monkeypatch: pytest.MonkeyPatch,
                                                 text: str) -> None:
    """The read-back compares data, not text: a wrong value in the edited document is
    refused whichever path read the original (the second text has an anchor)."""
    _wrong_append(monkeypatch, "app: cachf")
    with pytest.raises(EditError, match="does not read back as the patched data"):
        apply_operations(text, 0, [{"op": "add", "path": "/spec/egress/-", "value": RULE}])


def test_a_wrong_type_is_caught_by_the_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """`cache` written as the YAML 1.1 boolean `yes` reads back as True, not the string."""
    _wrong_append(monkeypatch, "app: yes")
    with pytest.raises(EditError, match="does not read back as the patched data"):
        apply_operations(NETPOL, 0, [{"op": "add", "path": "/spec/egress/-", "value": RULE}])


def test_an_edit_that_breaks_the_syntax_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    _wrong_append(monkeypatch, "app: [cache")
    with pytest.raises(EditError, match="edited document does not parse"):
        apply_operations(NETPOL, 0, [{"op": "add", "path": "/spec/egress/-", "value": RULE}])


@pytest.mark.parametrize("text, message", [
    ("metadata:\n  ? [a, b]\n  : c\nspec: {}\n", "a collection used as a mapping key"),
    ("metadata:\n  name: x\n---\nkind: Y\n", "expected one document in the edited range"),
    ("metadata:\n  name: [x\n", "does not parse as YAML"),
])
def test_what_the_composer_cannot_describe_is_refused_as_before(text: str,
                                                                message: str) -> None:
    """A collection key, two documents in one range, a syntax error: parse_tree raises
    the event path's message (the composed path leaves these to it)."""
    with pytest.raises(EditError, match=message):
        parse_tree(text, 0)


def test_a_merge_key_without_an_alias() -> None:
    """`<<` with an inline mapping (no `*`, so the composed path reads it): the data is
    PyYAML's merged mapping, and the merge key on the edited path is still refused."""
    text = "spec:\n  extra:\n    <<: {a: 1}\n    b: 2\n  egress: []\n"
    assert parse_document(text)[1] == {"spec": {"extra": {"a": 1, "b": 2}, "egress": []}}
    out = apply_operations(text, 0, [{"op": "add", "path": "/spec/egress/-", "value": {}}])
    assert load_single(out)["spec"]["egress"] == [{}]
    with pytest.raises(EditError, match="merge key"):
        apply_operations(text, 0, [{"op": "add", "path": "/spec/extra/x", "value": 1}])


def test_an_edit_leaves_no_cyclic_garbage() -> None:
    """The trees' parent links are dropped when an edit is done, so reference counting
    frees them: the cyclic collector found a third of `fix`'s editing time in them."""
    text = "\n---\n".join([NETPOL] * 20)
    yamledit._CHECKED.clear()
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        new = yamledit.apply_document_operations(text, [
            (n, [{"op": "add", "path": "/spec/egress/-", "value": RULE}], "")
            for n in range(20)])
        new = yamledit.append_documents(new, [(3, {"kind": "Namespace"})])
        assert gc.collect() == 0
    finally:
        if was:
            gc.enable()
    assert new.count("app: cache") == 20


@pytest.mark.parametrize("text, message", [
    ("metadata:\n  name: {{ .Release.Name }}\n", "line 7: a collection used as a mapping key"),
    ("metadata:\n  labels: {app: web}}\n", "does not parse as YAML"),
    ("spec:\n  x: a}}b\n", "line 7: template expression 'a}}b'"),
    ("spec:\n  x: web-{{ .Values.x }}\n", "line 7: template expression"),
])
def test_template_braces_are_refused_with_their_line(text: str, message: str) -> None:
    """The messages of the event path (base_line 5: the document's second line is 7)."""
    with pytest.raises(EditError, match=message):
        parse_tree(text, 5)


def test_nested_flow_mappings_are_no_template() -> None:
    """`{matchLabels: {app: db}}` ends in `}}` outside any scalar: read (composed path)."""
    text = "spec:\n  podSelector: {matchLabels: {app: db}}\n"
    assert _composed(text) is not None
    assert parse_document(text)[1] == {"spec": {"podSelector": {"matchLabels": {"app": "db"}}}}


def _recursive_walk(node: Node) -> list[Node]:
    out = [node]
    for child in node.children():
        out.extend(_recursive_walk(child))
    return out


def test_walk_keeps_the_depth_first_order() -> None:
    """Layout votes break ties by the first value seen and duplicate keys are reported at
    the first repeat: the iterative walk visits nodes in the recursive order."""
    from netpol_fix.yamledit.locate import walk
    walked = 0
    for chunk in list(_documents())[:3000]:
        try:
            root = parse_tree(chunk).root
        except EditError:
            continue
        if root is not None:
            assert walk(root) == _recursive_walk(root)
            walked += 1
    assert walked > 1000
