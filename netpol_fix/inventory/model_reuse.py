"""What the inventory builder parsed from an object's data, kept for `fix`'s next read.

`fix` reads its edited texts again (fixes/rounds.py); a document that is byte-identical to
one read before gives the very same data dict again (texts.py, doc_pieces.py), only at a
new place. The NetworkPolicy or Workload parsed from that dict is then the same too, except
its `source` (file, document, line), which the builder puts back. Only a clean parse is
kept (no error, no warning, whose lines would have to move as well): the rest is parsed
again. Off unless `fix` turns it on (texts.reuse_unchanged_texts); entries live as long as
the dicts they were parsed from, which that reuse keeps for the run anyway.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from netpol_fix.model.objects import SourceObject

Model = TypeVar("Model")

_kept: dict[tuple[int, str], tuple[dict[str, Any], Any]] | None = None


def keep_parsed_models() -> None:
    """From now on (for the process), remember what `kept` is given."""
    global _kept
    if _kept is None:
        _kept = {}


def forget_parsed_models() -> None:
    """Stop remembering (tests)."""
    global _kept
    _kept = None


def parsed(obj: dict[str, Any], what: str) -> Any:
    """What was kept for `obj` (this very dict) under `what`, or None."""
    if _kept is None:
        return None
    found = _kept.get((id(obj), what))
    if found is None or found[0] is not obj:
        return None
    return found[1]


def keep(obj: dict[str, Any], what: str, model: Any) -> None:
    """Remember `model`, parsed cleanly from `obj` (kept alive with it, so its id is not
    reused by another dict)."""
    if _kept is not None:
        _kept[(id(obj), what)] = (obj, model)


def with_source(model: Model, source: SourceObject) -> Model:
    """A copy of `model` (a dataclass without slots or __post_init__: NetworkPolicy,
    Workload) with `source` in place of its own: its fields copied as they are (values the
    old object cached are not), four times faster than dataclasses.replace, which builds
    and checks the object again through __init__."""
    names = _FIELDS.get(type(model))
    if names is None:
        kind: Any = type(model)
        names = _FIELDS[kind] = tuple(f.name for f in fields(kind))
    own = model.__dict__
    copied = object.__new__(type(model))
    copied.__dict__.update({name: own[name] for name in names})
    object.__setattr__(copied, "source", source)
    return copied


_FIELDS: dict[type, tuple[str, ...]] = {}
