"""Property tests: the edit equals jsonpatch's answer and touches only the edited node."""

from __future__ import annotations

import jsonpatch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netpol_fix.yamledit import apply_operations
from tests.yamledit.manifest_gen import (
    all_paths,
    documents,
    layouts,
    operations_for,
    pointer,
    values,
    write_stream,
)

SETTINGS = settings(max_examples=500, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def load_all(text: str) -> list:
    return list(yaml.load_all(text, Loader=yaml.CSafeLoader))


def node_line_span(text: str, document: int, tokens: tuple[str, ...]) -> tuple[int, int]:
    """0-based first and last line of the collection at ``tokens`` (from its key line),
    measured with PyYAML's composer, independently of the editor's own locator."""
    node = list(yaml.compose_all(text, Loader=yaml.CSafeLoader))[document]
    key_line = node.start_mark.line
    for token in tokens:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == token:
                    key_line, node = key.start_mark.line, value
                    break
        else:
            node = node.value[int(token)]
            key_line = node.start_mark.line
    return min(key_line, node.start_mark.line), node.end_mark.line


@SETTINGS
@given(docs=st.lists(documents, min_size=1, max_size=3), layout=layouts,
       seed=st.integers(0, 2**16), data=st.data())
def test_edit_matches_jsonpatch_and_keeps_other_lines(docs, layout, seed, data) -> None:
    text = write_stream(docs, layout, seed)
    parsed = load_all(text)
    assert parsed == docs  # the generator itself is sound
    target = data.draw(st.integers(0, len(docs) - 1))
    op, edited = data.draw(operations_for(docs[target]))

    result = apply_operations(text, target, [op])

    expected = list(parsed)
    expected[target] = jsonpatch.apply_patch(parsed[target], [op])
    assert load_all(result) == expected

    first, last = node_line_span(text, target, edited)
    old, new = text.splitlines(), result.splitlines()
    while first > 0 and old[first - 1].lstrip().startswith("#"):
        first -= 1  # a removed first child takes its header comment with it
    tail = len(old) - last - 1
    assert new[:first] == old[:first]
    assert new[len(new) - tail:] == old[len(old) - tail:] if tail else True
    if "\r\n" in text:
        assert result.count("\n") == result.count("\r\n")
    if not layout.final_newline:
        assert not result.endswith("\n")


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(doc=documents, layout=layouts, seed=st.integers(0, 2**16), data=st.data())
def test_several_operations_in_sequence(doc, layout, seed, data) -> None:
    text = write_stream([doc], layout, seed)
    ops = []
    current = doc
    for _ in range(data.draw(st.integers(1, 4))):
        op, _ = data.draw(operations_for(current))
        ops.append(op)
        current = jsonpatch.apply_patch(current, [op])
    result = apply_operations(text, 0, ops)
    assert load_all(result) == [current]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(doc=documents, layout=layouts, seed=st.integers(0, 2**16), data=st.data())
def test_appending_several_items_at_once_equals_one_at_a_time(doc, layout, seed, data) -> None:
    """A run of `add .../-` is inserted in one splice (splice.DocumentEditor.append);
    the text must be byte for byte what one operation per call gives."""
    sequences = [tokens for tokens, value in all_paths(doc) if isinstance(value, list) and value]
    if not sequences:
        return
    tokens = data.draw(st.sampled_from(sequences))
    items = data.draw(st.lists(values, min_size=2, max_size=4))
    ops = [{"op": "add", "path": pointer(tokens) + "/-", "value": item} for item in items]
    text = write_stream([doc], layout, seed)
    one_at_a_time = text
    for op in ops:
        one_at_a_time = apply_operations(one_at_a_time, 0, [op])
    assert apply_operations(text, 0, ops) == one_at_a_time
