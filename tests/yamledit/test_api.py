"""Refusals, document handling, new documents and atomic writes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from netpol_fix.yamledit import (
    EditError,
    append_document,
    append_documents,
    apply_operations,
    render_document,
    write_atomic,
)
from netpol_fix.yamledit.documents import split_documents
from netpol_fix.yamledit.render import is_plain_safe

NETPOL = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
spec:
  podSelector: {}
"""


def add(path: str, value: object) -> dict:
    return {"op": "add", "path": path, "value": value}


# -- refusals -------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("metadata:\n  name: {{ .Release.Name }}\n", "template"),
    ("metadata:\n  name: web-{{ .Values.x }}\n", "template"),
    ("{{- if .Values.enabled }}\nmetadata:\n  name: x\n{{- end }}\n", "template"),
    ("metadata:\n  name: [unclosed\n", "does not parse"),
    ("metadata:\n  name: a\n  name: b\n", "duplicate key 'name'"),
])
def test_refuses_templates_broken_files_and_duplicate_keys(text: str, message: str) -> None:
    with pytest.raises(EditError, match=message):
        apply_operations(text, 0, [add("/metadata/labels", {"a": "b"})])


def test_quoted_braces_are_not_a_template() -> None:
    text = 'metadata:\n  name: x\n  annotations:\n    t: "{{ literal }}"\n'
    out = apply_operations(text, 0, [add("/metadata/labels", {"a": "b"})])
    assert yaml.safe_load(out)["metadata"]["annotations"]["t"] == "{{ literal }}"


@pytest.mark.parametrize("path, message", [
    ("/spec/ingress/-", "alias"),
    ("/spec/egress/-", "anchored"),
    ("/spec/extra/x", "merge key"),
])
def test_refuses_anchors_aliases_and_merge_keys_on_the_path(path: str, message: str) -> None:
    text = """base: &rules
  - from: []
spec:
  egress: &out
  - {}
  ingress: *rules
  extra:
    <<: {a: 1}
    b: 2
"""
    with pytest.raises(EditError, match=message):
        apply_operations(text, 0, [add(path, {"from": []})])


def test_anchors_elsewhere_are_left_alone() -> None:
    text = "defaults: &d {a: 1}\nuse: *d\nspec:\n  egress: []\n"
    out = apply_operations(text, 0, [add("/spec/egress/-", {})])
    assert out.startswith("defaults: &d {a: 1}\nuse: *d\n")
    assert yaml.safe_load(out)["spec"]["egress"] == [{}]


def test_replacing_a_subtree_holding_an_anchor_is_refused() -> None:
    text = "a:\n  b: &x 1\nc: *x\n"
    with pytest.raises(EditError, match="anchor"):
        apply_operations(text, 0, [{"op": "replace", "path": "/a", "value": {}}])


def test_failing_test_operation_raises_and_names_the_path() -> None:
    with pytest.raises(EditError, match=r"test /metadata/name"):
        apply_operations(NETPOL, 0, [add("/metadata/labels", {"a": "b"}),
                                     {"op": "test", "path": "/metadata/name", "value": "db"}])


def test_passing_test_operation_changes_nothing() -> None:
    ops = [{"op": "test", "path": "/metadata/name", "value": "web"}]
    assert apply_operations(NETPOL, 0, ops) == NETPOL


@pytest.mark.parametrize("op", [
    {"op": "move", "from": "/a", "path": "/b"},
    {"op": "copy", "from": "/a", "path": "/b"},
])
def test_unsupported_operations_are_refused(op: dict) -> None:
    with pytest.raises(EditError, match="unsupported operation"):
        apply_operations(NETPOL, 0, [op])


def test_missing_path_and_missing_document_are_refused() -> None:
    with pytest.raises(EditError, match="cannot apply"):
        apply_operations(NETPOL, 0, [add("/spec/nothere/x", 1)])
    with pytest.raises(EditError, match="document 3 does not exist"):
        apply_operations(NETPOL, 3, [add("/a", 1)])


# -- documents ------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "", "# only a comment\n", "a: 1\n", "a: 1\n---\n", "---\n---\n", "---\na: 1\n...\n",
    "# c\n---\na: 1\n---\nb: 2\n...\n---\nc: 3", "%YAML 1.1\n---\na: 1\n",
    "a: |\n  x\n  ---not a marker\n---\nb: 2\n", "--- {a: 1}\n--- [1]\n",
])
def test_document_split_agrees_with_the_parser(text: str) -> None:
    assert len(split_documents(text)) == len(list(yaml.safe_load_all(text)))


def test_empty_documents_count() -> None:
    text = "---\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
    out = apply_operations(text, 1, [add("/metadata/labels", {"x": "y"})])
    assert list(yaml.safe_load_all(out))[1]["metadata"]["labels"] == {"x": "y"}
    assert out.startswith("---\n---\n")


def test_base_path_addresses_items_of_a_list() -> None:
    text = "kind: List\nitems:\n- kind: A\n  spec: {}\n- kind: B\n  spec:\n    x: 1\n"
    out = apply_operations(text, 0, [add("/spec/y", 2)], base_path="/items/1")
    assert yaml.safe_load(out)["items"][1]["spec"] == {"x": 1, "y": 2}
    assert out.startswith("kind: List\nitems:\n- kind: A\n  spec: {}\n")


def test_other_documents_are_not_parsed_for_large_streams() -> None:
    """Beyond the full-check limit only the edited document is parsed, so a broken
    document elsewhere does not block the edit (and costs no time)."""
    filler = "---\nkind: ConfigMap\ndata:\n  k: " + "v" * 100 + "\n"
    text = NETPOL + filler * 12_000 + "---\nbroken: [\n"
    assert len(text) > 1_000_000
    out = apply_operations(text, 0, [add("/metadata/labels", {"a": "b"})])
    assert out.endswith(filler + "---\nbroken: [\n")


def test_bom_is_kept() -> None:
    out = apply_operations("\ufeff" + NETPOL, 0, [add("/metadata/labels", {"a": "b"})])
    assert out.startswith("\ufeffapiVersion")


def test_json_file_stays_json() -> None:
    text = json.dumps(yaml.safe_load(NETPOL), indent=2)
    out = apply_operations(text, 0, [add("/spec/policyTypes", ["Egress"]),
                                     add("/metadata/labels", {"on": "yes"})])
    assert json.loads(out)["metadata"]["labels"] == {"on": "yes"}
    assert json.loads(out)["spec"]["policyTypes"] == ["Egress"]


def test_plain_safety_covers_yaml_11_and_12() -> None:
    for word in ["yes", "no", "on", "off", "y", "n", "~", "null", "0755", "08", "1e3", "0o17",
                 "0x1F", "1_000", "12:30", "2001-12-14", ".inf", "", " a", "a: b", "- a"]:
        assert not is_plain_safe(word), word
    for word in ["web", "kube-dns", "Egress", "app.kubernetes.io/name", "10.0.0.0/8x"]:
        assert is_plain_safe(word), word


# -- new documents --------------------------------------------------------------------

def test_append_document_goes_before_the_next_marker_with_file_style() -> None:
    text = "a:\n    b:\n        - x\n# trailing\n---\nc: 1\n"
    out = append_document(text, 0, {"kind": "NetworkPolicy", "spec": {"ports": [{"port": 53}]}})
    assert out == (
        "a:\n    b:\n        - x\n# trailing\n---\nkind: NetworkPolicy\nspec:\n"
        "    ports:\n        - port: 53\n---\nc: 1\n"
    )


def test_append_document_keeps_crlf_and_missing_final_newline() -> None:
    out = append_document("a: 1\r\nb: 2", 0, {"c": "yes"})
    assert out == "a: 1\r\nb: 2\r\n---\r\nc: \"yes\""


def test_append_document_after_end_marker() -> None:
    out = append_document("a: 1\n...\n", 0, {"b": [1]})
    assert list(yaml.safe_load_all(out)) == [{"a": 1}, {"b": [1]}]
    assert out == "a: 1\n...\n---\nb:\n  - 1\n"


@pytest.mark.parametrize("text", ["a: 1\n---\nb: 2\n", "a: 1\r\n---\r\nb: 2",
                                  "a: 1\n...\n---\nb: 2\n# end\n"])
def test_append_documents_at_once_equals_one_by_one(text: str) -> None:
    """Several new documents (two after one anchor, one after another) in one call are
    placed exactly as one call each would place them, last anchor first."""
    new = [(0, {"n": 1}), (1, {"n": 2}), (0, {"n": 3})]
    one_by_one = text
    for _, (anchor, obj) in sorted(enumerate(new), key=lambda e: (e[1][0], e[0]),
                                   reverse=True):
        one_by_one = append_document(one_by_one, anchor, obj)
    assert append_documents(text, new) == one_by_one
    assert [d["n"] for d in yaml.safe_load_all(one_by_one) if "n" in d] == [1, 3, 2]


def test_render_document_follows_the_given_file() -> None:
    style = "metadata:\n name: x\nspec:\n list:\n - a\n"
    assert render_document({"spec": {"l": ["on"]}}, style_from_text=style) == \
        'spec:\n l:\n - "on"\n'
    assert render_document({"a": {"b": [1]}}) == "a:\n  b:\n    - 1\n"


# -- atomic writes --------------------------------------------------------------------

def test_write_atomic_keeps_mode_bom_and_bytes(tmp_path: Path) -> None:
    target = tmp_path / "np.yaml"
    target.write_bytes("\ufeffa: 1\r\n".encode())
    os.chmod(target, 0o640)
    write_atomic(target, "a: 2\r\n")
    assert target.read_bytes() == "\ufeffa: 2\r\n".encode()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["np.yaml"]


def test_write_atomic_follows_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("a: 1\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    write_atomic(link, "a: 2\n")
    assert link.is_symlink() and real.read_text() == "a: 2\n"


def test_interrupted_write_leaves_the_old_file(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "np.yaml"
    target.write_text("a: 1\n")

    def boom(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "a: 2\n")
    assert target.read_text() == "a: 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["np.yaml"]


@pytest.mark.parametrize("seq, grown", [
    ('["Ingress"]', '["Ingress", "Egress"]'),
    ("['Ingress']", "['Ingress', 'Egress']"),
    ("[Ingress]", "[Ingress, Egress]"),
    ('[Ingress, "Ingress"]', '[Ingress, "Ingress", Egress]'),
    ("[\n    'Ingress'\n  ]", "[\n    'Ingress',\n    'Egress'\n  ]"),
])
def test_new_item_of_a_flow_sequence_is_quoted_like_its_siblings(seq: str, grown: str) -> None:
    """As in block sequences: when every scalar item is quoted with one character, the new
    one is too (`["Ingress"]` grows to `["Ingress", "Egress"]`, not `["Ingress", Egress]`)."""
    text = NETPOL + f"  policyTypes: {seq}\n"
    new = apply_operations(text, 0, [add("/spec/policyTypes/-", "Egress")])
    assert new == NETPOL + f"  policyTypes: {grown}\n"


def test_appended_scalars_are_quoted_as_one_at_a_time_would_quote_them() -> None:
    """Found by the append property test: `"yes"` must be quoted, and then every scalar
    item is quoted, so `a b` after it is quoted too, whether the two adds come in one call
    or two."""
    text = "apiVersion:\n - []"
    ops = [add("/apiVersion/-", "yes"), add("/apiVersion/-", "a b")]
    one_at_a_time = apply_operations(apply_operations(text, 0, [ops[0]]), 0, [ops[1]])
    assert apply_operations(text, 0, ops) == one_at_a_time == \
        'apiVersion:\n - []\n - "yes"\n - "a b"'
