"""Reading on two cores (inventory/parallel_read.py) gives exactly what reading in order
gives: the same objects with the same locations, errors, notes and skipped documents in
the same order, the digests `fix` checks before writing, and the texts it reuses; a child
that fails costs only time."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest

from netpol_fix import workers
from netpol_fix.inventory import files, model_reuse, parallel_read, texts
from netpol_fix.inventory.kinds import LoadResult
from netpol_fix.inventory.sources import load_sources

POLICY = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: p{i}, namespace: ns{i}}}
spec:
  podSelector: {{matchLabels: {{app: a{i}}}}}
  policyTypes: [Ingress]
"""


@pytest.fixture(autouse=True)
def _reuse_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reuse off unless a test turns it on (`fix` run in this process earlier leaves it
    on: then a second read of the same files would all be given from memory)."""
    monkeypatch.setattr(texts, "_reused", None)
    monkeypatch.setattr(texts, "_latest", {})
    monkeypatch.setattr(model_reuse, "_kept", None)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Files of every kind of outcome: objects, a syntax error between good documents, a
    document that is not a Kubernetes object, a binary file, a Helm chart, a JSON file."""
    root = tmp_path / "repo"
    for i in range(12):
        folder = root / f"team-{i:02d}"
        folder.mkdir(parents=True)
        (folder / "policies.yaml").write_text("---\n".join(POLICY.format(i=i * 10 + j)
                                                            for j in range(5)))
    (root / "team-03" / "broken.yaml").write_text(
        POLICY.format(i=900) + "---\nkind: [unclosed\n---\n" + POLICY.format(i=901))
    (root / "team-05" / "values.yaml").write_text("replicas: 3\nimage: nginx\n")
    (root / "team-07" / "blob.yaml").write_bytes(b"\x00\x01binary")
    (root / "team-08" / "policy.json").write_text(
        '{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", '
        '"metadata": {"name": "j", "namespace": "json"}, "spec": {"podSelector": {}}}')
    chart = root / "team-09" / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 1.0.0\n")
    (chart / "templates" / "np.yaml").write_text("metadata: {name: {{ .Values.x }}}\n")
    return root


def _two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parallel whatever the input's size and the machine."""
    monkeypatch.setattr(parallel_read, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(workers, "_cores", lambda: 2)
    monkeypatch.setattr(workers, "_runnable", lambda: 1)
    monkeypatch.delenv(workers.WORKERS_VARIABLE, raising=False)


def _seen(result: LoadResult) -> dict[str, Any]:
    return {
        "objects": [(o.obj, o.location, o.item_index, o.spec_defaulted) for o in result.objects],
        "errors": list(result.errors),
        "notes": list(result.notes),
        "skipped": dict(result.skipped),
    }


def _sequential(sources: list[str], monkeypatch: pytest.MonkeyPatch, **kwargs: Any
                ) -> LoadResult:
    with monkeypatch.context() as patch:
        patch.setenv(workers.WORKERS_VARIABLE, "1")
        return load_sources(sources, **kwargs)


def test_the_same_result_in_the_same_order(tree: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    sources = [str(tree), str(tree / "missing.yaml"), str(tree / "team-01" / "policies.yaml")]
    expected = _seen(_sequential(sources, monkeypatch))
    _two_cores(monkeypatch)
    forks: list[int] = []
    fork = workers._fork
    monkeypatch.setattr(workers, "_fork",
                        lambda jobs, export: forks.append(len(jobs)) or fork(jobs, export))
    assert _seen(load_sources(sources)) == expected
    assert forks and forks[0] > 0  # a child did read part of it
    assert any("not UTF-8" in e.message or "binary" in e.message for e in expected["errors"])
    assert any(e.line is not None for e in expected["errors"])


def test_digests_of_the_files_the_child_read_are_recorded(tree: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """`fix` refuses to write a file whose bytes changed since they were read: it needs the
    digest of every file, the child's too."""
    _two_cores(monkeypatch)
    files.clear_text_cache()
    load_sources([str(tree)])
    for path in sorted(tree.rglob("*.yaml")):
        if "templates" in path.parts or path.name == "Chart.yaml":
            continue
        assert files.read_digest(str(path)) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_texts_read_by_the_child_are_reused_on_a_second_read(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With reuse on (`fix`), a text the child parsed is given from memory the second time,
    and the second read stays in this process (its objects are the very same objects)."""
    _reuse_on(monkeypatch)
    _two_cores(monkeypatch)
    first = load_sources([str(tree)])
    last = str(max(tree.rglob("policies.yaml")))
    assert any(name == last for name, _text in texts._reused or {})
    forks: list[int] = []
    monkeypatch.setattr(workers, "_fork", lambda jobs, export: forks.append(1))
    again = load_sources([str(tree)])
    assert not forks
    assert [id(o) for o in again.objects] == [id(o) for o in first.objects]


def test_an_edit_of_a_text_the_child_read_parses_only_the_edited_document(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`fix` reads its edited texts right after the first read: the child's record of the
    text it read came back, so the edited file's other documents are reused."""
    _reuse_on(monkeypatch)
    _two_cores(monkeypatch)
    load_sources([str(tree)])
    last = str(max(tree.rglob("policies.yaml")))
    edited = Path(last).read_text().replace("name: p110,", "name: p110-edited,")
    parsed: list[str] = []
    whole = texts._load_text
    monkeypatch.setattr(texts, "_load_text",
                        lambda name, text, result: parsed.append(name) or whole(name, text,
                                                                                result))
    reread = load_sources([str(tree)], overrides={last: edited})
    assert last not in parsed  # not read whole: only its edited document was parsed
    names = [o.obj["metadata"]["name"] for o in reread.objects
             if o.location is not None and o.location.file == last]
    assert names == ["p110-edited", "p111", "p112", "p113", "p114"]


def _reuse_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """reuse_unchanged_texts for this test only."""
    monkeypatch.setattr(texts, "_reused", None)
    monkeypatch.setattr(texts, "_latest", {})
    monkeypatch.setattr(model_reuse, "_kept", None)
    texts.reuse_unchanged_texts()


def test_stdin_is_read_here_and_keeps_its_place(tree: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    stdin_text = POLICY.format(i=777)
    sources = [str(tree / "team-00"), "-", str(tree / "team-11")]
    expected = _seen(_sequential(sources, monkeypatch, stdin=io.StringIO(stdin_text)))
    _two_cores(monkeypatch)
    assert _seen(load_sources(sources, stdin=io.StringIO(stdin_text))) == expected


def test_texts_given_instead_of_files_are_read_as_given(tree: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """`fix` analyses its edited texts again: an override read by the child is the text
    given, not the file on disk."""
    edited = str(tree / "team-11" / "policies.yaml")
    overrides = {edited: POLICY.format(i=555)}
    expected = _seen(_sequential([str(tree)], monkeypatch, overrides=overrides))
    _two_cores(monkeypatch)
    assert _seen(load_sources([str(tree)], overrides=overrides)) == expected
    assert any(o.obj["metadata"]["name"] == "p555" for o in load_sources(
        [str(tree)], overrides=overrides).objects)


def test_a_child_that_fails_costs_only_time(tree: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    """The child cannot send its answer (here: pickling fails in it): this process reads
    those files itself, and the result is the same."""
    expected = _seen(_sequential([str(tree)], monkeypatch))
    _two_cores(monkeypatch)

    def broken(*_args: Any, **_kwargs: Any) -> bytes:
        raise RuntimeError("cannot pickle")

    monkeypatch.setattr(workers.pickle, "dumps", broken)
    assert _seen(load_sources([str(tree)])) == expected


def test_small_inputs_one_core_or_the_variable_read_here(tree: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    forks: list[int] = []
    monkeypatch.setattr(workers, "_fork", lambda jobs, export: forks.append(1))
    load_sources([str(tree)])  # a few KB: below PARALLEL_MIN_BYTES
    monkeypatch.setattr(parallel_read, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(workers, "_cores", lambda: 1)
    load_sources([str(tree)])
    monkeypatch.setattr(workers, "_cores", lambda: 2)
    monkeypatch.setattr(workers, "_runnable", lambda: 2)
    load_sources([str(tree)])  # both cores busy
    monkeypatch.setattr(workers, "_runnable", lambda: 1)
    monkeypatch.setenv(workers.WORKERS_VARIABLE, "1")
    load_sources([str(tree)])
    assert not forks
    monkeypatch.delenv(workers.WORKERS_VARIABLE)
    load_sources([str(tree)])
    assert forks  # (the same input, an idle core: a child reads)
