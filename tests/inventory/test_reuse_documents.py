"""Per-document reuse when `fix` reads an edited text again (inventory/doc_pieces.py,
texts._reread, model_reuse.py): the result must be exactly what a fresh read of the new
text gives, field by field (objects, their locations, errors and their lines, skipped
documents, and the inventory built from them), while the documents that did not change are
not parsed again."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import astuple

import pytest

from netpol_fix.inventory import model_reuse, texts
from netpol_fix.inventory.build import build_inventory
from netpol_fix.inventory.doc_pieces import cut
from netpol_fix.inventory.files import remember_text
from netpol_fix.inventory.kinds import LoadResult
from netpol_fix.inventory.sources import locate_line

NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {n}\n  labels: {{team: t{n}}}\n"
POLICY = """# policy {n}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: p{n}
  namespace: shop
spec:
  podSelector: {{matchLabels: {{app: a{n}}}}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - ipBlock: {{cidr: 10.{n}.0.0/16}}
    ports: [{{port: 80}}]
"""
DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: d{n}, namespace: shop}}
spec:
  template:
    metadata: {{labels: {{app: a{n}}}}}
    spec:
      containers: [{{name: c, ports: [{{containerPort: 80}}]}}]
"""
LIST = """apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {{name: s{n}, namespace: shop}}
  spec: {{selector: {{app: a{n}}}, ports: [{{port: 80}}]}}
- kind: Pod
- apiVersion: v1
  kind: Pod
  metadata: {{name: pod{n}, namespace: shop, labels: {{app: a{n}}}}}
"""
BLOCK = """apiVersion: v1
kind: ConfigMap
metadata: {{name: c{n}}}
data:
  script: |
    ---
    not a document separator {n}
    ---
  other: >-
    folded
"""
SYNTAX_ERROR = "apiVersion: v1\nkind: Namespace\nmetadata: {{name: [broken{n}}}\n"
MISSING_KIND = "apiVersion: v1\nmetadata: {{name: x{n}}}\nspec: {{}}\n"
NOT_K8S = "name: values {n}\nreplicas: 3\n"
EMPTY = "# only a comment {n}\n"
BAD_POLICY = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: bad{n}, namespace: shop}}
spec:
  podSelector: {{}}
  ingress:
  - from:
    - ipBlock: {{cidr: 10.0.0.{n}/8}}
"""
WARNED_POLICY = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: warned{n}, namespace: shop}}
spec:
  podSelector: {{}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - ipBlock: {{cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}
"""
ALIASED = "apiVersion: v1\nkind: Namespace\nmetadata: &m {{name: al{n}}}\nx: *m\n"
TABBED = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tab{n}\t\n"
TOO_DEEP = "apiVersion: v1\nkind: ConfigMap\ndata: " + "[" * 1001 + "]" * 1001 + "\n"
DOCUMENTS = [NS, POLICY, DEPLOY, LIST, BLOCK, SYNTAX_ERROR, MISSING_KIND, NOT_K8S, EMPTY,
             BAD_POLICY, WARNED_POLICY, ALIASED, TABBED]
"""Documents as users write them, and as they break (each formatted with a number)."""


@pytest.fixture()
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(texts, "_reused", None)
    monkeypatch.setattr(texts, "_latest", {})
    monkeypatch.setattr(model_reuse, "_kept", None)
    yield


def _read(name: str, text: str) -> LoadResult:
    result = LoadResult()
    texts.load_text(name, text, result)
    return result


def _fresh(name: str, text: str, monkeypatch: pytest.MonkeyPatch) -> LoadResult:
    """A read without any reuse."""
    with monkeypatch.context() as patch:
        patch.setattr(texts, "_reused", None)
        patch.setattr(model_reuse, "_kept", None)
        return _read(name, text)


def _fresh_inventory(result: LoadResult, monkeypatch: pytest.MonkeyPatch) -> tuple[object, ...]:
    with monkeypatch.context() as patch:
        patch.setattr(model_reuse, "_kept", None)
        return _inventory_fields(result)


def _fields(result: LoadResult) -> tuple[object, ...]:
    objects = [(o.obj, o.location, o.item_index, o.spec_defaulted) for o in result.objects]
    return objects, [astuple(e) for e in result.errors], result.notes, result.skipped


def _inventory_fields(result: LoadResult) -> tuple[object, ...]:
    """The inventory, its errors' field lines found in the text (locate_line)."""
    inventory = build_inventory(result.objects, locate=locate_line)
    return (inventory.policies, inventory.workloads, inventory.services, inventory.namespaces,
            [astuple(e) for e in inventory.errors])


def _stream(parts: list[str], start: str = "") -> str:
    return start + "---\n".join(parts)


def _check_reread(texts_in_order: list[str], monkeypatch: pytest.MonkeyPatch) -> LoadResult:
    """Read each text in turn under one name (reuse on); each read equals a fresh one."""
    texts.reuse_unchanged_texts()
    result = LoadResult()
    for text in texts_in_order:
        remember_text("f.yaml", text)
        result = _read("f.yaml", text)
        fresh = _fresh("f.yaml", text, monkeypatch)
        assert _fields(result) == _fields(fresh), text
        assert _inventory_fields(result) == _fresh_inventory(fresh, monkeypatch), text
    return result


def _doc(template: str, n: int) -> str:
    return template.format(n=n)


@pytest.mark.usefixtures("clean")
def test_an_edited_document_moves_the_ones_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A document edited to be longer: the unchanged ones after it get new lines, their
    data is the very dict read before (not parsed again)."""
    docs = [_doc(NS, 1), _doc(POLICY, 2), _doc(DEPLOY, 3), _doc(LIST, 4)]
    old = _stream(docs)
    edited = docs[1].replace("ports: [{port: 80}]", "ports:\n    - port: 80\n    - port: 81")
    new = _stream([docs[0], edited, docs[2], docs[3]])
    texts.reuse_unchanged_texts()
    first = _read("f.yaml", old)
    second = _read("f.yaml", new)
    assert _fields(second) == _fields(_fresh("f.yaml", new, monkeypatch))
    assert second.objects[2].location.line == first.objects[2].location.line + 2
    assert second.objects[2].obj is first.objects[2].obj  # reused, not parsed again
    assert second.objects[1].obj is not first.objects[1].obj


@pytest.mark.usefixtures("clean")
def test_an_inserted_document_renumbers_the_ones_after_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A new document before others (what a fix appends after its anchor): the later ones
    get new document indexes, List items included; errors move with their documents."""
    docs = [_doc(NS, 1), _doc(MISSING_KIND, 2), _doc(LIST, 3), _doc(NOT_K8S, 4)]
    old = _stream(docs)
    new = _stream([docs[0], _doc(POLICY, 9), *docs[1:]])
    second = _check_reread([old, new], monkeypatch)
    assert [e.document for e in second.errors] == [2, 3]  # missing kind; the List's bad item
    assert second.skipped == {"f.yaml": [4]}


@pytest.mark.usefixtures("clean")
def test_removed_and_reordered_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = [_doc(t, n) for n, t in enumerate([NS, POLICY, DEPLOY, LIST, NOT_K8S, BLOCK])]
    _check_reread([_stream(docs), _stream(docs[2:]), _stream(docs[::-1]),
                   _stream(docs[:1] + docs[3:])], monkeypatch)


@pytest.mark.usefixtures("clean")
def test_a_syntax_error_in_an_edited_file_reads_the_whole_text(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad document in an edited file: the error, its line and the documents after it
    are what a fresh read gives (the whole text is read: resuming after a syntax error
    depends on the text around it)."""
    docs = [_doc(NS, 1), _doc(POLICY, 2), _doc(DEPLOY, 3)]
    broken = [docs[0], _doc(SYNTAX_ERROR, 7), *docs[1:]]
    second = _check_reread([_stream(docs), _stream(broken), _stream(docs)], monkeypatch)
    assert not second.errors


@pytest.mark.usefixtures("clean")
def test_errors_found_by_the_builder_keep_their_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid policy and a policy with a warning after an inserted document: their
    errors (lines found again in the new text) are a fresh read's."""
    docs = [_doc(BAD_POLICY, 1), _doc(WARNED_POLICY, 2), _doc(POLICY, 3)]
    old, new = _stream(docs), _stream([_doc(NS, 5), *docs])
    _check_reread([old, new], monkeypatch)


@pytest.mark.parametrize("start", ["", "---\n", "# header\n\n---\n", "\n"])
@pytest.mark.usefixtures("clean")
def test_the_text_before_the_first_separator(start: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The first piece may hold a document, only comments, or nothing."""
    docs = [_doc(NS, 1), _doc(POLICY, 2)]
    _check_reread([_stream(docs, start), _stream([_doc(DEPLOY, 3), *docs], start),
                   _stream(docs[1:], start), _stream(docs, "# other header\n---\n")],
                  monkeypatch)


@pytest.mark.parametrize("odd", [
    "%YAML 1.1\n---\n" + NS.format(n=8),
    "...\n---\n" + NS.format(n=8),
    NS.format(n=8) + "...\n",
    "--- |\n  ---\n  text\n",
    '--- "quoted\n  --- inside"\n',
    TOO_DEEP,
    TABBED.format(n=8),
    ALIASED.format(n=8),
])
@pytest.mark.usefixtures("clean")
def test_directives_end_markers_and_odd_documents(odd: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    docs = [_doc(NS, 1), _doc(POLICY, 2)]
    _check_reread([_stream(docs), _stream([docs[0], odd, docs[1]]),
                   _stream([odd, *docs]), _stream(docs)], monkeypatch)


@pytest.mark.usefixtures("clean")
def test_json_and_templates_are_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    ns = '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "j"}}\n'
    docs = [_doc(NS, 1), _doc(POLICY, 2)]
    _check_reread([_stream(docs), ns, _stream(docs),
                   _stream([docs[0], "metadata: {name: {{ .Values.x }}}\n", docs[1]])],
                  monkeypatch)


@pytest.mark.usefixtures("clean")
def test_a_document_repeated_is_parsed_for_each_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two byte-identical documents never share one data dict (fixes patch by object)."""
    docs = [_doc(NS, 1), _doc(POLICY, 2)]
    second = _check_reread([_stream(docs), _stream([*docs, docs[1]])], monkeypatch)
    assert second.objects[1].obj is not second.objects[2].obj


def test_texts_that_are_not_cut() -> None:
    """Directives, end markers, CR, the other YAML line breaks and a BOM are not cut."""
    for text in ("%YAML 1.1\n---\na: 1\n", "a: 1\n...\n", "a: 1\r\n---\nb: 2\n",
                 "a: 1\u2028---\nb: 2\n", "\ufeffa: 1\n"):
        assert cut(text) is None, text
    pieces = cut("a: 1\n---\nb: |\n  ---\n---x: 1\n--- c\n")
    assert pieces is not None
    assert [(p.start, p.line) for p in pieces] == [(0, 0), (5, 1), (28, 5)]


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.usefixtures("clean")
def test_generated_edit_sequences(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Streams of documents (good and broken) edited round after round as `fix` edits
    them (a document changed, one inserted, one removed, two swapped): every read is a
    fresh read's, field by field, inventory included."""
    rng = random.Random(seed)
    counter = iter(range(100, 10_000))
    docs = [_doc(rng.choice(DOCUMENTS), next(counter)) for _ in range(rng.randint(1, 8))]
    start = rng.choice(["", "---\n", "# generated\n---\n"])
    streams = [_stream(docs, start)]
    for _round in range(4):
        for _edit in range(rng.randint(1, 3)):
            action = rng.choice(["change", "insert", "remove", "swap"])
            if action == "change" and docs:
                docs[rng.randrange(len(docs))] = _doc(rng.choice(DOCUMENTS), next(counter))
            elif action == "insert" or not docs:
                docs.insert(rng.randint(0, len(docs)),
                            _doc(rng.choice(DOCUMENTS), next(counter)))
            elif action == "remove":
                docs.pop(rng.randrange(len(docs)))
            elif len(docs) > 1:
                i, j = rng.sample(range(len(docs)), 2)
                docs[i], docs[j] = docs[j], docs[i]
        streams.append(_stream(docs, start))
    _check_reread(streams, monkeypatch)
