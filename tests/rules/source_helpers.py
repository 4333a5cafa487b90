"""Helpers for rule tests on SourceObjects: contexts from inline YAML, apply a fix, rescan."""

from __future__ import annotations

import copy
import textwrap
from typing import Any

import jsonpatch
import yaml

from netpol_fix.config import Settings
from netpol_fix.inventory.build import build_inventory
from netpol_fix.inventory.model import Location, SourceObject
from netpol_fix.rules.base import Finding, Fix, Rule
from netpol_fix.rules.context import Context


def objects_from_yaml(text: str, file: str = "test.yaml") -> list[SourceObject]:
    objects = []
    for i, doc in enumerate(yaml.safe_load_all(textwrap.dedent(text))):
        if isinstance(doc, dict):
            objects.append(SourceObject(doc, Location(file, i, 1)))
    return objects


def context(objects: list[SourceObject] | str, **settings: Any) -> Context:
    if isinstance(objects, str):
        objects = objects_from_yaml(objects)
    return Context(build_inventory(objects), Settings(**settings))


def apply_fix(ctx: Context, fix: Fix) -> list[SourceObject]:
    """The sources with the fix's patches applied (jsonpatch) and its new objects added."""
    sources = [w.source for w in ctx.inventory.workloads if w.source is not None]
    sources += [p.source for p in ctx.inventory.policies if p.source is not None]
    sources += [n.source for n in ctx.inventory.namespaces.values() if n.source is not None]
    sources += [s.source for s in ctx.inventory.services if s.source is not None]
    sources += list(ctx.inventory.cilium_policies)
    unique = list({id(s): s for s in sources}.values())
    result = []
    for source in unique:
        obj = source.obj
        for patch in fix.patches:
            if patch.source is source:
                obj = jsonpatch.apply_patch(copy.deepcopy(obj), patch.operations)
        result.append(SourceObject(obj, source.location))
    for new in fix.creates:
        result.append(SourceObject(new.obj, Location("new.yaml", 0, 1)))
    return result


def rescan(ctx: Context, fix: Fix, rule: Rule) -> tuple[Context, list[Finding]]:
    """Apply the fix and run the rule again on the result, with the same settings."""
    after = Context(build_inventory(apply_fix(ctx, fix)), ctx.settings)
    return after, list(rule.check(after))
