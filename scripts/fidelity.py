#!/usr/bin/env python3
"""Corpus fidelity benchmark for netpol_fix.yamledit.

For every NetworkPolicy and Namespace document in the third-party corpus (``kind: List``
items included) it applies a fixed set of edits, one at a time, and checks:

* data: the edited file re-reads as jsonpatch's answer (other documents unchanged);
* fidelity: every changed line range (difflib) lies inside the edited node's line span.

It also does the same edits by re-dumping the whole file with ruamel.yaml defaults
(round-trip load, apply, dump) for comparison, and times one edit in a ~5 MB stream.

Corpus location: ``$NETPOL_FIX_CORPUS`` or the repository's ``tests/corpus``.
"""

from __future__ import annotations

import argparse
import difflib
import io
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from netpol_fix.yamledit import EditError, apply_operations

KINDS = ("NetworkPolicy", "Namespace")
DNS_RULE = {
    "to": [{"namespaceSelector": {},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}
NEW_PORTS = [{"protocol": "TCP", "port": 7000, "endPort": 7002}, {"protocol": "UDP", "port": "dns"}]
LABEL_KEY = "netpol-fix.io/managed"


def corpus_dir() -> Path:
    return Path(os.environ.get("NETPOL_FIX_CORPUS") or REPO / "tests" / "corpus")


@dataclass
class Target:
    """One NetworkPolicy/Namespace document (or List item) to edit."""

    path: Path
    text: str
    document: int
    base: tuple[str, ...]  # ("items", "3") inside a List
    obj: dict[str, Any]


@dataclass
class Edit:
    name: str
    ops: list[dict[str, Any]]
    spans: list[tuple[str, ...]]  # nodes (relative to the object) the edit may touch


@dataclass
class Report:
    documents: int = 0
    unparsable_files: int = 0
    documents_edited: int = 0
    edits: int = 0
    accepted: int = 0
    only_intended: int = 0
    data_correct: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    unfaithful: list[str] = field(default_factory=list)
    wrong_data: list[str] = field(default_factory=list)
    ruamel_edits: int = 0
    ruamel_only_intended: int = 0
    ruamel_data_correct: int = 0
    ruamel_load_errors: int = 0
    ruamel_extra_lines: int = 0
    big_file_mb: float = 0.0
    big_file_seconds: float = 0.0


def pointer(tokens: tuple[str, ...]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def load_all(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=yaml.CSafeLoader))


def iter_targets(corpus: Path, report: Report) -> Iterator[Target]:
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
    for path in files:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if not any(k in text for k in KINDS):
            continue
        try:
            docs = load_all(text.removeprefix("\ufeff"))
        except yaml.YAMLError:
            # not a document we can count; the editor must refuse it cleanly
            report.unparsable_files += 1
            try:
                apply_operations(text, 0, [{"op": "add", "path": "/metadata/labels",
                                            "value": {LABEL_KEY: "true"}}])
                report.crashes.append(f"{path}: edited a file that does not parse")
            except EditError as exc:
                report.refusals[refusal_class(str(exc))] += 1
            continue
        for index, doc in enumerate(docs):
            if not isinstance(doc, dict):
                continue
            if doc.get("kind") in KINDS:
                yield Target(path, text, index, (), doc)
            elif doc.get("kind") in ("List", "NetworkPolicyList") and isinstance(
                    doc.get("items"), list):
                for i, item in enumerate(doc["items"]):
                    if isinstance(item, dict) and item.get("kind") in KINDS:
                        yield Target(path, text, index, ("items", str(i)), item)


def edits_for(obj: dict[str, Any]) -> list[Edit]:
    """The fixed edit set: DNS egress rule, policyTypes, a label, a ports list."""
    edits: list[Edit] = []
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        labels = metadata.get("labels")
        if isinstance(labels, dict):
            edits.append(Edit("label", [{"op": "add", "path": pointer(
                ("metadata", "labels", LABEL_KEY)), "value": "true"}],
                [("metadata", "labels")]))
        else:
            edits.append(Edit("label", [{"op": "add", "path": "/metadata/labels",
                                         "value": {LABEL_KEY: "true"}}], [("metadata",)]))
    spec = obj.get("spec")
    if obj.get("kind") != "NetworkPolicy" or not isinstance(spec, dict):
        return edits
    if isinstance(spec.get("egress"), list):
        edits.append(Edit("dns-egress", [{"op": "add", "path": "/spec/egress/-",
                                          "value": DNS_RULE}], [("spec", "egress")]))
    else:
        edits.append(Edit("dns-egress", [{"op": "add", "path": "/spec/egress",
                                          "value": [DNS_RULE]}], [("spec",)]))
    types = spec.get("policyTypes")
    if isinstance(types, list):
        if "Egress" not in types:
            edits.append(Edit("policy-types", [{"op": "add", "path": "/spec/policyTypes/-",
                                                "value": "Egress"}], [("spec", "policyTypes")]))
    else:
        edits.append(Edit("policy-types", [{"op": "add", "path": "/spec/policyTypes",
                                            "value": ["Ingress", "Egress"]}], [("spec",)]))
    for direction in ("ingress", "egress"):
        rules = spec.get(direction)
        if not isinstance(rules, list):
            continue
        for i, rule in enumerate(rules):
            if isinstance(rule, dict) and isinstance(rule.get("ports"), list):
                where = ("spec", direction, str(i), "ports")
                edits.append(Edit("replace-ports", [{"op": "replace", "path": pointer(where),
                                                     "value": NEW_PORTS}], [where]))
                return edits
    return edits


def line_span(node: yaml.Node, tokens: tuple[str, ...]) -> tuple[int, int]:
    """0-based first/last line of the node at ``tokens`` (first = its key's line), from
    PyYAML's composer: independent of the editor's own locator."""
    first = node.start_mark.line
    for token in tokens:
        if isinstance(node, yaml.MappingNode):
            key, node = next((k, v) for k, v in node.value if k.value == token)
            first = key.start_mark.line
        else:
            node = node.value[int(token)]
            first = node.start_mark.line
    last = node.end_mark.line
    if node.end_mark.column == 0 and last > first:
        last -= 1  # a block collection ends at the start of the next line
    return first, last


def only_intended(old: str, new: str, spans: list[tuple[int, int]]) -> tuple[bool, int]:
    """Do all changed line ranges lie inside one of ``spans``? Also count diff lines."""
    a, b = old.splitlines(), new.splitlines()
    head = 0  # skip the common head and tail first: same answer, much less difflib work
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    matcher = difflib.SequenceMatcher(None, a[head:len(a) - tail], b[head:len(b) - tail],
                                      autojunk=False)
    ok, changed = True, 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        changed += (i2 - i1) + (j2 - j1)
        if not any(first <= head + i1 and head + i2 <= last + 1 for first, last in spans):
            ok = False
    return ok, changed


_PARSED: dict[str, tuple[list[yaml.Node], list[Any]]] = {}


def parsed_file(body: str) -> tuple[list[yaml.Node], list[Any]]:
    """Composed nodes and data of a file, kept for the file's other targets."""
    if body not in _PARSED:
        _PARSED.clear()
        _PARSED[body] = (list(yaml.compose_all(body, Loader=yaml.CSafeLoader)), load_all(body))
    return _PARSED[body]


def check_target(target: Target, report: Report, compare_ruamel: bool) -> None:
    edits = edits_for(target.obj)
    if not edits:
        return
    report.documents_edited += 1
    body = target.text.removeprefix("\ufeff")
    nodes, before = parsed_file(body)
    root = nodes[target.document]
    where = f"{target.path.relative_to(corpus_dir())}#{target.document}{pointer(target.base)}"
    for edit in edits:
        report.edits += 1
        spans = [line_span(root, target.base + s) for s in edit.spans]
        full_ops = [{**op, "path": pointer(target.base) + op["path"]} for op in edit.ops]
        expected = list(before)
        expected[target.document] = jsonpatch.apply_patch(before[target.document], full_ops)
        try:
            new = apply_operations(target.text, target.document, edit.ops,
                                   base_path=pointer(target.base))
        except EditError as exc:
            report.refusals[refusal_class(str(exc))] += 1
            if refusal_class(str(exc)) == "internal check failed":
                report.crashes.append(f"{where} {edit.name}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - counting crashes is the point
            report.crashes.append(f"{where} {edit.name}: {type(exc).__name__}: {exc}")
            continue
        report.accepted += 1
        if load_all(new.removeprefix("\ufeff")) == expected:
            report.data_correct += 1
        else:
            report.wrong_data.append(f"{where} {edit.name}")
        if only_intended(body, new.removeprefix("\ufeff"), spans)[0]:
            report.only_intended += 1
        else:
            report.unfaithful.append(f"{where} {edit.name}")
        if compare_ruamel:
            ruamel_edit(body, target.document, full_ops, expected, spans, report)


def ruamel_edit(body: str, document: int, ops: list[dict[str, Any]], expected: list[Any],
                spans: list[tuple[int, int]], report: Report) -> None:
    """The same edit by re-dumping the whole file with ruamel.yaml defaults."""
    from ruamel.yaml import YAML

    rt = YAML()
    try:
        docs = list(rt.load_all(body))
        jsonpatch.apply_patch(docs[document], ops, in_place=True)
        out = io.StringIO()
        rt.dump_all(docs, out)
        new = out.getvalue()
    except Exception:  # noqa: BLE001 - ruamel refusing a file is a result
        report.ruamel_load_errors += 1
        return
    report.ruamel_edits += 1
    ok, changed = only_intended(body, new, spans)
    report.ruamel_only_intended += ok
    report.ruamel_extra_lines += changed
    try:
        report.ruamel_data_correct += load_all(new) == expected
    except yaml.YAMLError:
        pass


def refusal_class(message: str) -> str:
    for needle, name in (("template", "template"), ("does not parse", "does not parse"),
                         ("alias", "alias/anchor/merge key"), ("anchor", "alias/anchor/merge key"),
                         ("merge key", "alias/anchor/merge key"), ("duplicate key", "duplicate key"),
                         ("internal", "internal check failed")):
        if needle in message:
            return name
    return "other: " + message[:60]


def speed(report: Report, corpus: Path, size: int = 5_000_000) -> None:
    """Edit one document in the middle of a ~5 MB stream built from corpus documents."""
    pieces = []
    for path in sorted(corpus.rglob("*.yaml"))[:300]:
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            if "{{" in text or not load_all(text):
                continue
        except yaml.YAMLError:
            continue
        pieces.append(text if text.endswith("\n") else text + "\n")
    policy = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
              "  name: target\nspec:\n  podSelector: {}\n  egress: []\n")
    chunks, length, i = [], 0, 0
    while length < size:
        chunk = "---\n" + pieces[i % len(pieces)]
        chunks.append(chunk)
        length += len(chunk)
        i += 1
    middle = len(chunks) // 2
    big = "".join(chunks[:middle]) + "---\n" + policy + "".join(chunks[middle:])
    from netpol_fix.yamledit.documents import split_documents

    index = next(n for n, s in enumerate(split_documents(big))
                 if "name: target\n" in big[s.start:s.end])
    start = time.perf_counter()
    apply_operations(big, index, [{"op": "add", "path": "/spec/egress/-", "value": DNS_RULE}])
    report.big_file_seconds = time.perf_counter() - start
    report.big_file_mb = len(big) / 1e6


def run(corpus: Path | None = None, compare_ruamel: bool = True,
        measure_speed: bool = True) -> Report:
    corpus = corpus or corpus_dir()
    report = Report()
    for target in iter_targets(corpus, report):
        report.documents += 1
        check_target(target, report, compare_ruamel)
    if measure_speed:
        speed(report, corpus)
    return report


def pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.1f}%)" if whole else "0/0"


def print_report(report: Report) -> None:
    print(f"NetworkPolicy/Namespace documents: {report.documents}, "
          f"edited: {report.documents_edited}, edits: {report.edits}")
    print(f"splice: accepted {report.accepted}, only intended lines changed "
          f"{pct(report.only_intended, report.accepted)}, data correct "
          f"{pct(report.data_correct, report.accepted)}, crashes {len(report.crashes)}")
    print(f"files naming those kinds that do not parse: {report.unparsable_files}")
    for name, count in sorted(report.refusals.items()):
        print(f"  refused ({name}): {count}")
    for line in report.crashes[:20] + report.unfaithful[:20] + report.wrong_data[:20]:
        print("  !", line)
    if report.ruamel_edits or report.ruamel_load_errors:
        print(f"ruamel.yaml defaults, whole-file re-dump: byte-identical outside the intended "
              f"lines {pct(report.ruamel_only_intended, report.ruamel_edits)}, data correct "
              f"{pct(report.ruamel_data_correct, report.ruamel_edits)}, changed diff lines "
              f"{report.ruamel_extra_lines}, load/dump errors {report.ruamel_load_errors}")
    if report.big_file_mb:
        print(f"speed: one edit in a {report.big_file_mb:.1f} MB stream took "
              f"{report.big_file_seconds:.3f} s (target < 0.5 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-ruamel", action="store_true", help="skip the ruamel comparison")
    parser.add_argument("--no-speed", action="store_true", help="skip the 5 MB timing")
    args = parser.parse_args()
    report = run(compare_ruamel=not args.no_ruamel, measure_speed=not args.no_speed)
    print_report(report)
    sys.exit(1 if report.crashes or report.unfaithful or report.wrong_data else 0)


if __name__ == "__main__":
    main()
