"""Tests for netpol_fix.inventory.sources: reading SOURCES into objects and input errors."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest

from netpol_fix.inventory.sources import (
    STDIN_NAME,
    LoadResult,
    clear_text_cache,
    load_sources,
    locate_line,
)
from netpol_fix.model.objects import SourceObject
from tests.corpus_path import corpus_path

REPO_ROOT = Path(__file__).resolve().parents[2]

POD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n"


def write(path: Path, text: str | bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, newline="")
    return str(path)


def names(result: LoadResult) -> list[str]:
    return [o.obj["metadata"]["name"] for o in result.objects]


def where(result: LoadResult) -> list[tuple[int, int, int | None]]:
    return [
        (o.location.document, o.location.line, o.item_index)
        for o in result.objects
        if o.location is not None
    ]


def only_error(result: LoadResult, severity: str = "error"):
    assert len(result.errors) == 1, [str(e) for e in result.errors]
    error = result.errors[0]
    assert error.severity == severity, str(error)
    return error


# --- multi-document YAML -----------------------------------------------------------------


def test_multi_document_indices_and_lines(tmp_path: Path) -> None:
    text = (
        "# leading comment\n"  # 1
        "\n"  # 2
        "apiVersion: v1\n"  # 3  document 0
        "kind: Pod\n"
        "metadata:\n"
        "  name: a\n"
        "---\n"  # 7
        "---\n"  # 8  document 1 is empty
        "# only a comment\n"  # 9  document 2 is empty too
        "---\n"  # 10
        "# comment before content\n"  # 11
        "apiVersion: v1\n"  # 12 document 3
        "kind: Pod\n"
        "metadata:\n"
        "  name: b\n"
        "...\n"  # 16
        "---\n"  # 17
        "apiVersion: v1\n"  # 18 document 4
        "kind: Pod\n"
        "metadata: {name: c}\n"
    )
    result = load_sources([write(tmp_path / "m.yaml", text)])
    assert result.errors == []
    assert names(result) == ["a", "b", "c"]
    assert where(result) == [(0, 3, None), (3, 12, None), (4, 18, None)]
    assert all(o.location.file == str(tmp_path / "m.yaml") for o in result.objects)


def test_explicit_start_and_trailing_separator(tmp_path: Path) -> None:
    text = "---\n" + POD.format(name="a") + "---\n" + POD.format(name="b") + "---\n"
    result = load_sources([write(tmp_path / "m.yaml", text)])
    assert result.errors == []
    assert where(result) == [(0, 2, None), (1, 7, None)]


def test_empty_file_and_comment_only_file_are_silent(tmp_path: Path) -> None:
    write(tmp_path / "d" / "empty.yaml", "")
    write(tmp_path / "d" / "comments.yaml", "# nothing here\n# at all\n")
    result = load_sources([str(tmp_path / "d")])
    assert result.objects == [] and result.errors == []


def test_crlf_lines(tmp_path: Path) -> None:
    text = "# c\r\n" + POD.format(name="a").replace("\n", "\r\n") + "---\r\n"
    text += POD.format(name="b").replace("\n", "\r\n")
    path = write(tmp_path / "crlf.yaml", text)
    result = load_sources([path])
    assert result.errors == []
    assert names(result) == ["a", "b"]
    assert where(result) == [(0, 2, None), (1, 7, None)]
    assert locate_line(result.objects[1], ["metadata", "name"]) == 10


def test_bom_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.yaml", b"\xef\xbb\xbf" + POD.format(name="a").encode())
    result = load_sources([path])
    assert result.errors == [] and names(result) == ["a"]


def test_timestamps_stay_strings(tmp_path: Path) -> None:
    text = POD.format(name="a") + "  creationTimestamp: 2024-01-02T03:04:05Z\n"
    result = load_sources([write(tmp_path / "t.yaml", text)])
    assert result.objects[0].obj["metadata"]["creationTimestamp"] == "2024-01-02T03:04:05Z"


def test_anchors_and_merge_keys_are_constructed(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: &n a\n"
        "  labels: &l {app: x}\n"
        "  annotations:\n    <<: *l\n    other: *n\n"
    )
    result = load_sources([write(tmp_path / "a.yaml", text)])
    assert result.errors == []
    assert result.objects[0].obj["metadata"]["annotations"] == {"app": "x", "other": "a"}


# --- lists ---------------------------------------------------------------------------------


def test_kind_list_items(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\n"  # 1
        "kind: List\n"
        "items:\n"
        "- apiVersion: v1\n"  # 4
        "  kind: Pod\n"
        "  metadata:\n"
        "    name: a\n"
        "- apiVersion: v1\n"  # 8
        "  kind: Service\n"
        "  metadata:\n"
        "    name: b\n"
        "---\n"
        "kind: List\n"
        "apiVersion: v1\n"
        "items: []\n"
    )
    result = load_sources([write(tmp_path / "list.yaml", text)])
    assert result.errors == []
    assert [o.obj["kind"] for o in result.objects] == ["Pod", "Service"]
    assert where(result) == [(0, 4, 0), (0, 8, 1)]


def test_typed_list_items_get_kind_and_api_version(tmp_path: Path) -> None:
    text = (
        "---\n"
        "apiVersion: v1\n"  # document 0, empty? no: content starts here
        "kind: Namespace\n"
        "metadata: {name: ns}\n"
        "---\n"
        "apiVersion: networking.k8s.io/v1\n"  # 6
        "kind: NetworkPolicyList\n"
        "items:\n"
        "  - metadata:\n"  # 9
        "      name: p1\n"
        "    spec: {podSelector: {}}\n"
        "  - kind: NetworkPolicy\n"  # 12
        "    metadata:\n"
        "      name: p2\n"
    )
    result = load_sources([write(tmp_path / "np.yaml", text)])
    assert result.errors == []
    policies = result.objects[1:]
    assert [p.obj["kind"] for p in policies] == ["NetworkPolicy", "NetworkPolicy"]
    assert [p.obj["apiVersion"] for p in policies] == ["networking.k8s.io/v1"] * 2
    assert where(result) == [(0, 2, None), (1, 9, 0), (1, 12, 1)]


def test_generic_list_item_without_kind_is_an_error(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n- metadata: {name: a}\n- " + (
        "{apiVersion: v1, kind: Pod, metadata: {name: b}}\n"
    )
    result = load_sources([write(tmp_path / "l.yaml", text)])
    error = only_error(result)
    assert (error.document, error.line) == (0, 4)
    assert "missing `kind`" in error.message
    assert names(result) == ["b"] and where(result) == [(0, 5, 1)]


def test_list_items_not_a_list_is_an_error(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: PodList\nitems: {a: 1}\n"
    error = only_error(load_sources([write(tmp_path / "l.yaml", text)]))
    assert "must be a list" in error.message


def test_kubectl_json_output(tmp_path: Path) -> None:
    data = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "labels": {"x": "y"}}},
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "p"},
                "spec": {"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]},
            },
        ],
        "metadata": {"resourceVersion": ""},
    }
    text = json.dumps(data, indent=4)
    path = write(tmp_path / "get.json", text)
    result = load_sources([path])
    assert result.errors == []
    lines = text.split("\n")
    item_lines = [i + 1 for i, line in enumerate(lines) if line == "        {"]
    assert where(result) == [(0, item_lines[0], 0), (0, item_lines[1], 1)]
    policy = result.objects[1]
    cidr_line = next(i + 1 for i, line in enumerate(lines) if '"cidr"' in line)
    assert locate_line(policy, ["spec", "ingress", 0, "from", 0, "ipBlock", "cidr"]) == cidr_line


def test_json_with_tabs_and_nonstandard_extension(tmp_path: Path) -> None:
    text = '{\n\t"apiVersion": "v1",\n\t"kind": "Pod",\n\t"metadata": {"name": "a"}\n}\n'
    path = write(tmp_path / "pod.txt", text)  # given explicitly: read whatever its name
    result = load_sources([path])
    assert result.errors == [] and names(result) == ["a"]
    assert locate_line(result.objects[0], ["metadata", "name"]) == 4


def test_yaml_flow_mapping_with_trailing_comma(tmp_path: Path) -> None:
    text = '{ apiVersion: "v1", kind: "Pod",\n  metadata: { name: "a", }, }\n'
    result = load_sources([write(tmp_path / "flow.yaml", text)])
    assert result.errors == [] and names(result) == ["a"]


# --- stdin and directories --------------------------------------------------------------


def test_stdin(tmp_path: Path) -> None:
    clear_text_cache()
    stream = io.StringIO("# from a pipe\n" + POD.format(name="piped"))
    result = load_sources(["-"], stdin=stream)
    assert result.errors == []
    [obj] = result.objects
    assert obj.location is not None and obj.location.file == STDIN_NAME == "<stdin>"
    assert (obj.location.document, obj.location.line) == (0, 2)
    assert locate_line(obj, ["metadata", "name"]) == 5


def test_stdin_binary_buffer() -> None:
    class Stream(io.StringIO):
        buffer = io.BytesIO(b"\x00\x01binary")

    error = only_error(load_sources(["-"], stdin=Stream()))
    assert error.file == "<stdin>" and "binary" in error.message


def test_directory_recursion_filter_and_order(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write(root / "b.yaml", POD.format(name="b"))
    write(root / "a.yml", POD.format(name="a"))
    write(
        root / "sub" / "c.json",
        json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "c"}}),
    )
    write(root / "sub" / "deeper" / "d.YAML", POD.format(name="d"))
    write(root / "a_dir" / "e.yaml", POD.format(name="e"))
    write(root / "notes.txt", POD.format(name="txt"))
    write(root / "chart" / "README.md", "# not yaml {{ .Values }}\n")
    write(root / ".git" / "config.yaml", POD.format(name="git"))
    write(root / ".netpol-fix.yaml", "cni: cilium\n")
    result = load_sources([str(root)])
    assert result.errors == []
    assert names(result) == ["a", "e", "b", "c", "d"]
    files = [o.location.file for o in result.objects if o.location]
    assert files[0] == os.path.join(str(root), "a.yml")


def test_same_file_given_twice_is_read_once(tmp_path: Path) -> None:
    path = write(tmp_path / "d" / "p.yaml", POD.format(name="a"))
    result = load_sources([path, str(tmp_path / "d"), path])
    assert names(result) == ["a"]


def test_directory_without_manifests(tmp_path: Path) -> None:
    write(tmp_path / "empty" / "x.xml", "")
    error = only_error(load_sources([str(tmp_path / "empty")]))
    assert error.message == f"no .yaml/.yml/.json files under {tmp_path / 'empty'}"


def test_missing_path_and_others_still_load(tmp_path: Path) -> None:
    good = write(tmp_path / "ok.yaml", POD.format(name="a"))
    result = load_sources([str(tmp_path / "missing.yaml"), good])
    error = only_error(result)
    assert error.file == str(tmp_path / "missing.yaml") and "no such file" in error.message
    assert names(result) == ["a"]


# --- bad input ------------------------------------------------------------------------------


def test_helm_template(tmp_path: Path) -> None:
    text = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
        '  name: {{ include "chart.fullname" . }}\n'
        "spec:\n{{- if .Values.ingress }}\n  ingress: []\n{{- end }}\n"
    )
    error = only_error(load_sources([write(tmp_path / "templates" / "np.yaml", text)]))
    assert "looks like a Helm/Go template; render it first (helm template)" in error.message
    assert error.line == 4


def test_quoted_runtime_templates_are_not_helm(tmp_path: Path) -> None:
    text = POD.format(name="a") + '  annotations:\n    summary: "{{ $labels.pod }} is down"\n'
    result = load_sources([write(tmp_path / "rule.yaml", text)])
    assert result.errors == [] and names(result) == ["a"]


def test_binary_and_non_utf8_files(tmp_path: Path) -> None:
    binary = write(tmp_path / "image.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    latin1 = write(tmp_path / "latin1.yaml", "name: caf\xe9\n".encode("latin-1"))
    good = write(tmp_path / "ok.yaml", POD.format(name="a"))
    result = load_sources([binary, latin1, good])
    assert [e.file for e in result.errors] == [binary, latin1]
    assert "binary" in result.errors[0].message
    assert "not UTF-8" in result.errors[1].message
    assert names(result) == ["a"]


def test_tab_indentation_is_an_error_with_its_line(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n\tname: a\n"
    error = only_error(load_sources([write(tmp_path / "tab.yaml", text)]))
    assert (error.document, error.line) == (0, 4)
    assert "tab character" in error.message


def test_tab_before_comment_is_a_warning(tmp_path: Path) -> None:
    text = POD.format(name="a") + "  labels:\n    app: x\t\t# comment\n"
    result = load_sources([write(tmp_path / "tab.yaml", text)])
    warning = only_error(result, severity="warning")
    assert warning.line == 6 and "tab" in warning.message
    assert names(result) == ["a"]


def test_syntax_error_in_third_of_four_documents(tmp_path: Path) -> None:
    text = (
        POD.format(name="a")  # lines 1-4
        + "---\n"  # 5
        + POD.format(name="b")  # 6-9
        + "---\n"  # 10
        + "apiVersion: v1\n"  # 11
        + "kind: Pod\n"  # 12
        + "metadata:\n"  # 13
        + "  name: [c\n"  # 14
        + "  labels: {x: y}\n"  # 15
        + "---\n"  # 16
        + POD.format(name="d")  # 17-20
    )
    result = load_sources([write(tmp_path / "four.yaml", text)])
    error = only_error(result)
    assert error.document == 2
    assert error.line is not None and 14 <= error.line <= 16
    assert "syntax error" in error.message
    assert names(result)[:2] == ["a", "b"]
    # Reading resumes after the next `---`: the 4th document is not lost either.
    assert names(result) == ["a", "b", "d"]
    assert where(result)[2] == (3, 17, None)


def test_bad_character_reports_document_and_line(tmp_path: Path) -> None:
    text = POD.format(name="a") + "---\n@apiVersion: v1\nkind: Pod\n"
    result = load_sources([write(tmp_path / "at.yaml", text)])
    error = only_error(result)
    assert (error.document, error.line) == (1, 6)
    assert "found character that cannot start any token" in error.message
    assert names(result) == ["a"]


def test_json_array_is_skipped_not_an_error(tmp_path: Path) -> None:
    """A JSON file that is not a Kubernetes object (netpol-analyzer's connlist output) is
    skipped and counted, never an error: repositories hold such files."""
    path = write(tmp_path / "out.json", '[{"src": "a", "dst": "b"}]')
    result = load_sources([path])
    assert (result.errors, result.objects, result.skipped_files()) == ([], [], [path])


def test_json_non_kubernetes_object_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "renovate.json", '{"extends": ["config:base"]}')
    result = load_sources([path])
    assert (result.errors, result.objects, result.skipped_files()) == ([], [], [path])


def test_json_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", '{\n  "apiVersion": "v1",\n  "kind": Pod\n}\n')
    error = only_error(load_sources([path]))
    assert error.line == 3 and "JSON" in error.message


def test_object_without_kind(tmp_path: Path) -> None:
    text = "apiVersion: v1\nmetadata:\n  name: a\n---\n" + POD.format(name="b")
    result = load_sources([write(tmp_path / "nokind.yaml", text)])
    error = only_error(result)
    assert (error.document, error.line) == (0, 1)
    assert "is missing `kind`" in error.message
    assert names(result) == ["b"]


def test_object_without_api_version(tmp_path: Path) -> None:
    error = only_error(load_sources([write(tmp_path / "x.yaml", "kind: Pod\n")]))
    assert "is missing `apiVersion`" in error.message


def test_document_that_is_not_a_mapping_is_skipped(tmp_path: Path) -> None:
    """A list or a scalar is no Kubernetes object: skipped and counted, not an error (a
    repository's YAML is not all manifests)."""
    path = write(tmp_path / "x.yaml", "- a\n- b\n---\njust a string\n")
    result = load_sources([path])
    assert (result.errors, result.skipped, result.skipped_files()) == (
        [], {path: [0, 1]}, [path])


def test_unknown_kinds_are_returned(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    result = load_sources([write(tmp_path / "cm.yaml", text)])
    assert result.errors == [] and result.objects[0].obj["kind"] == "ConfigMap"


def test_unknown_tag_is_a_document_error(tmp_path: Path) -> None:
    text = POD.format(name="a") + "  x: !custom 1\n---\n" + POD.format(name="b")
    result = load_sources([write(tmp_path / "tag.yaml", text)])
    error = only_error(result)
    assert error.document == 0
    assert names(result) == ["b"]


# --- locate_line -------------------------------------------------------------------------


POLICY = """\
# policy file
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
spec:
  podSelector: {}
  ingress:
  - from:
    - podSelector: {}
    - ipBlock:
        cidr: 10.0.0.0/33
    ports: [{port: 80}, {port: 443,
             protocol: TCP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: flow}
spec: {podSelector: {}, ingress: [{from: [{podSelector: {}},
  {ipBlock: {cidr: "A"}}]}]}
"""


def test_locate_line_block_and_flow(tmp_path: Path) -> None:
    result = load_sources([write(tmp_path / "np.yaml", POLICY)])
    assert result.errors == []
    block, flow = result.objects
    path = ["spec", "ingress", 0, "from", 1, "ipBlock", "cidr"]
    assert locate_line(block, path) == 12
    assert locate_line(block, ["spec", "ingress", 0, "ports", 1, "protocol"]) == 14
    assert locate_line(block, ["spec", "ingress", 0]) == 9
    assert locate_line(block, []) == 2
    assert locate_line(flow, path) == 20
    assert locate_line(flow, ["metadata", "name"]) == 18
    assert locate_line(flow, ["spec", "egress"]) is None
    assert locate_line(flow, ["spec", "ingress", 5]) is None


def test_locate_line_in_list_item_and_after_evicted_cache(tmp_path: Path) -> None:
    text = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicyList\nitems:\n"
        "- metadata: {name: a}\n"
        "- metadata:\n"
        "    name: b\n"
        "  spec:\n"
        "    ingress:\n"
        "    - from: [{ipBlock: {cidr: x}}]\n"
    )
    result = load_sources([write(tmp_path / "l.yaml", text)])
    item = result.objects[1]
    clear_text_cache()  # the file is read again on demand
    assert locate_line(item, ["spec", "ingress", 0, "from", 0, "ipBlock", "cidr"]) == 9
    assert locate_line(item, ["metadata", "name"]) == 6


def test_locate_line_after_a_syntax_error(tmp_path: Path) -> None:
    text = "a: [\n---\n" + POD.format(name="late")
    result = load_sources([write(tmp_path / "x.yaml", text)])
    [obj] = result.objects
    assert obj.location is not None and obj.location.document == 1
    assert locate_line(obj, ["metadata", "name"]) == 6


def test_locate_line_without_location() -> None:
    assert locate_line(SourceObject({"kind": "Pod"}, None), ["kind"]) is None


# --- the third-party corpus --------------------------------------------------------------


def test_corpus_loads_quickly_without_exceptions() -> None:
    root = corpus_path("")
    start = time.perf_counter()
    result = load_sources([str(root)])
    elapsed = time.perf_counter() - start
    assert len(result.objects) > 1000
    assert all(e.file for e in result.errors)
    assert elapsed < 15, f"loading the corpus took {elapsed:.1f}s"


def test_corpus_malformed_pod_example_5() -> None:
    folder = corpus_path("netpol-analyzer/tests/malformed-pod-example-5")
    result = load_sources([str(folder)])
    syntax = [e for e in result.errors if e.file.endswith("pod.yaml")]
    assert len(syntax) == 1
    assert syntax[0].severity == "error"
    assert "found character that cannot start any token" in syntax[0].message
    assert (syntax[0].document, syntax[0].line) == (1, 12)
    # The first document of pod.yaml still loads.
    assert [o.obj["kind"] for o in result.objects] == ["Pod"]


def test_corpus_onlineboutique_json_is_skipped() -> None:
    folder = corpus_path("netpol-analyzer/tests/onlineboutique")
    result = load_sources([str(folder)])
    assert result.errors == []
    assert [Path(f).name for f in result.skipped_files()] == ["connlist_output.json"]
    assert any(o.obj["kind"] == "NetworkPolicy" for o in result.objects)


def test_corpus_missing_kind() -> None:
    folder = corpus_path("netpol-analyzer/tests/malformed-pod-example-4")
    error = only_error(load_sources([str(folder)]))
    assert error.file.endswith("pods.json") and "is missing `kind`" in error.message


def test_corpus_directory_without_manifests() -> None:
    folder = corpus_path("netpol-analyzer/tests/bad_yamls/subdir2")
    error = only_error(load_sources([str(folder)]))
    assert error.message.startswith("no .yaml/.yml/.json files under")


def test_corpus_tab_file_c030() -> None:
    path = corpus_path("kubescape-regolibrary/controls/examples/c030.yaml")
    result = load_sources([str(path)])
    # libyaml (like kubectl) accepts tabs before comments, so the policy loads, but the
    # tab on line 9 is reported because PyYAML's pure-Python parser rejects it.
    tab = only_error(result, severity="warning")
    assert tab.line == 9 and "tab" in tab.message
    assert [o.obj["kind"] for o in result.objects] == ["NetworkPolicy", "CiliumNetworkPolicy"]


def test_corpus_cilium_cli_templates() -> None:
    folder = corpus_path("cilium/cilium-cli/connectivity/builder/manifests")
    result = load_sources([str(folder)])
    templates = [e for e in result.errors if "Helm/Go template" in e.message]
    assert len(templates) == 19
    assert all(e.severity == "error" and e.line for e in templates)


def test_corpus_document_with_syntax_error_keeps_other_documents() -> None:
    folder = corpus_path("netpol-analyzer/tests/document_with_syntax_error")
    result = load_sources([str(folder)])
    error = only_error(result)
    assert (error.document, error.line) == (6, 225)
    documents = [o.location.document for o in result.objects if o.location]
    assert documents[:6] == [0, 1, 2, 3, 4, 5] and 7 in documents


def test_corpus_bad_cidr_line() -> None:
    folder = corpus_path("netpol-analyzer/tests/bad_netpols/subdir1")
    result = load_sources([str(folder)])
    policies = [o for o in result.objects if o.obj.get("kind") == "NetworkPolicy"]
    for policy in policies:
        for i, rule in enumerate(policy.obj.get("spec", {}).get("ingress") or []):
            for j, peer in enumerate(rule.get("from") or []):
                if isinstance(peer, dict) and peer.get("ipBlock", {}).get("cidr") == "A":
                    line = locate_line(policy, ["spec", "ingress", i, "from", j, "ipBlock", "cidr"])
                    assert line is not None
                    text = Path(policy.location.file).read_text().split("\n")[line - 1]
                    assert "cidr" in text
                    return
    pytest.fail("the bad CIDR was not found")


def test_directory_with_manifests_only_in_hidden_directories(tmp_path: Path) -> None:
    """An archived tree (`.archive/`) is skipped like `.git`; the error says where the
    manifests are and how to scan them, since a silent "no files" would mislead."""
    write(tmp_path / "repo" / ".archive" / "app" / "p.yaml", POD.format(name="a"))
    write(tmp_path / "repo" / ".git" / "HEAD", "ref: refs/heads/main\n")
    error = only_error(load_sources([str(tmp_path / "repo")]))
    assert error.message == (
        f"no .yaml/.yml/.json files under {tmp_path / 'repo'} outside hidden directories "
        f"(skipped: {tmp_path / 'repo' / '.archive'}; name one to scan it)")
    named = load_sources([str(tmp_path / "repo" / ".archive")])
    assert names(named) == ["a"] and not named.errors
