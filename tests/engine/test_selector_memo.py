"""parse_selector memoises by text: same answers, errors every time, no stale entries."""

from __future__ import annotations

import pytest

from netpol_fix.inventory.selectors import SelectorError, parse_selector


def test_same_text_same_selector_and_edits_are_seen() -> None:
    raw = {"matchLabels": {"app": "web"}}
    first = parse_selector(raw)
    assert parse_selector({"matchLabels": {"app": "web"}}) is first
    raw["matchLabels"]["app"] = "db"  # the caller's dict changed: a different selector
    assert parse_selector(raw).matches({"app": "db"})
    assert not parse_selector(raw).matches({"app": "web"})


def test_invalid_selectors_raise_every_time() -> None:
    bad = {"matchExpressions": [{"key": "app", "operator": "In", "values": []}]}
    for _ in range(2):
        with pytest.raises(SelectorError, match="requires at least one value"):
            parse_selector(bad)


def test_types_are_part_of_the_text() -> None:
    """`1` and `"1"` read the same in a label but only a string is valid."""
    assert parse_selector({"matchLabels": {"v": "1"}}).matches({"v": "1"})
    with pytest.raises(SelectorError):
        parse_selector({"matchLabels": {"v": 1}})
