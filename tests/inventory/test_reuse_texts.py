"""inventory/texts.reuse_unchanged_texts: `fix` reads every source again after its edits;
an unchanged text gives what it gave the first time (objects, errors, skipped documents),
and a changed one is parsed again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netpol_fix.inventory import model_reuse, texts
from netpol_fix.inventory.kinds import LoadResult

TEXT = """apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a, namespace: shop}
spec: {podSelector: {}, policyTypes: [Egress]}
---
name: not a kubernetes object
---
apiVersion: v1
kind: Namespace
metadata: {name: [broken}
"""


@pytest.fixture()
def reuse(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    monkeypatch.setattr(texts, "_reused", None)
    monkeypatch.setattr(texts, "_latest", {})
    monkeypatch.setattr(model_reuse, "_kept", None)
    parsed: list[str] = []
    real = texts._load_text

    def counted(name: str, text: str, result: LoadResult) -> int | None:
        parsed.append(name)
        return real(name, text, result)

    monkeypatch.setattr(texts, "_load_text", counted)
    texts.reuse_unchanged_texts()
    yield parsed


def _load(name: str, text: str) -> LoadResult:
    result = LoadResult()
    texts.load_text(name, text, result)
    return result


def test_an_unchanged_text_is_not_parsed_again(reuse: list[str]) -> None:
    first, second = _load("a.yaml", TEXT), _load("a.yaml", TEXT)
    assert reuse == ["a.yaml"]
    assert [o.obj for o in second.objects] == [o.obj for o in first.objects]
    assert len(first.objects) == 2 and second.errors == first.errors and first.errors
    assert second.skipped == first.skipped == {"a.yaml": [2]}


def test_a_changed_text_or_another_name_is_parsed(reuse: list[str]) -> None:
    """A text with a syntax error is read whole when it changes (resuming after the error
    depends on the text around it); per-document reuse: test_reuse_documents.py."""
    _load("a.yaml", TEXT)
    changed = _load("a.yaml", TEXT.replace("name: a,", "name: b,"))
    _load("b.yaml", TEXT)
    assert reuse == ["a.yaml", "a.yaml", "b.yaml"]
    assert changed.objects[1].obj["metadata"]["name"] == "b"


def test_a_changed_clean_text_parses_only_its_changed_documents(reuse: list[str]) -> None:
    clean = TEXT[:TEXT.rindex("---")]
    first = _load("a.yaml", clean)
    changed = _load("a.yaml", clean.replace("name: a,", "name: b,"))
    assert reuse == ["a.yaml"]  # the whole text once; then only the edited document
    assert changed.objects[0].obj is first.objects[0].obj
    assert changed.objects[1].obj["metadata"]["name"] == "b"


def test_without_the_switch_every_read_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(texts, "_reused", None)
    parsed: list[str] = []
    real = texts._load_text
    monkeypatch.setattr(texts, "_load_text",
                        lambda n, t, r: (parsed.append(n), real(n, t, r))[1])
    _load("a.yaml", TEXT)
    _load("a.yaml", TEXT)
    assert parsed == ["a.yaml", "a.yaml"]
