"""Helpers for rule tests: run a rule on inline YAML, apply a fix, diff connectivity.

The connectivity diff is computed independently of `fixes/effect.py` (all pairs, no
shortcut on touched endpoints), so that a fix's stated `opens` is checked, not echoed.
"""

from __future__ import annotations

import copy
import textwrap
from typing import Any

import jsonpatch
import yaml
from click.testing import CliRunner, Result

from netpol_fix.cli import main
from netpol_fix.config import Settings
from netpol_fix.engine.network import Network
from netpol_fix.fixes.effect import flows_between
from netpol_fix.inventory.build import NAME_LABEL, Inventory, build_inventory
from netpol_fix.model.findings import Finding, Fix, Flow
from netpol_fix.model.objects import Location, SourceObject
from netpol_fix.rules.base import Rule
from netpol_fix.rules.context import Context


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(textwrap.dedent(text)) if isinstance(d, dict)]


def objects_from_yaml(text: str, file: str = "test.yaml") -> list[SourceObject]:
    """The documents of inline YAML as sources, with their document index."""
    return [SourceObject(o, Location(file, i, 1)) for i, o in enumerate(docs(text))]


def inventory_of(objects: list[dict[str, Any]]) -> Inventory:
    return build_inventory(SourceObject(o, Location("test.yaml", i, 1))
                           for i, o in enumerate(objects))


def context(sources: str | list[dict[str, Any]] | list[SourceObject], **settings: Any
            ) -> Context:
    """A rule context from inline YAML, plain objects or SourceObjects."""
    if isinstance(sources, str):
        sources = objects_from_yaml(sources)
    if sources and isinstance(sources[0], SourceObject):
        inventory = build_inventory(sources)  # type: ignore[arg-type]
    else:
        inventory = inventory_of(sources)  # type: ignore[arg-type]
    return Context(inventory, Settings(**settings))


def run(rule: Rule, text: str, **settings: Any) -> list[Finding]:
    return list(rule.check(context(text, **settings)))


def _matches(obj: dict[str, Any], ref: dict[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or ("default" if ref["namespace"] else None)
    return (obj.get("kind") == ref["kind"] and meta.get("name") == ref["name"]
            and (ref["namespace"] is None or namespace == ref["namespace"]))


def apply_fix(objects: list[dict[str, Any]], fix: Fix) -> list[dict[str, Any]]:
    """The objects with the fix's operations applied. A patch of an object the sources do
    not hold (a live Namespace) is applied to that object as the API server has it."""
    result = copy.deepcopy(objects)
    for patch in fix.patches:
        ref = patch.object.as_dict()
        for i, obj in enumerate(result):
            if _matches(obj, ref):
                result[i] = jsonpatch.apply_patch(obj, patch.operations)
                break
        else:
            assert patch.source is None and ref["kind"] == "Namespace"
            live = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ref["name"], "labels": {NAME_LABEL: ref["name"]}}}
            result.append(jsonpatch.apply_patch(live, patch.operations))
    return result + [c.obj for c in fix.creates]


def all_conns(ctx: Context, inventory: Inventory) -> dict[tuple[int, int], Any]:
    """Every pair's allowed connections, with the endpoints (stand-ins too) of `ctx`."""
    extra = tuple(ctx.network.endpoints[len(ctx.inventory.workloads):])
    net = Network(inventory, extra_endpoints=extra)
    assert [e.key for e in net.endpoints] == [e.key for e in ctx.network.endpoints]
    return {(s, d): net.ingress_conns(s, d) & net.egress_conns(s, d)
            for s in range(net.size) for d in range(net.size) if s != d}


def connectivity_diff(ctx: Context, after: Inventory) -> tuple[set[Flow], set[Flow]]:
    """(opened, closed) between ctx's inventory and `after`, over every pair."""
    from netpol_fix.model.objects import endpoint_ref

    before_conns = all_conns(ctx, ctx.inventory)
    after_conns = all_conns(ctx, after)
    refs = [endpoint_ref(e) for e in ctx.network.endpoints]
    opened: set[Flow] = set()
    closed: set[Flow] = set()
    for (s, d), before in before_conns.items():
        now = after_conns[(s, d)]
        opened.update(flows_between(before, now, refs[s], refs[d]))
        closed.update(flows_between(now, before, refs[s], refs[d]))
    return opened, closed


def scan_json(tmp_path: Any, text: str, *args: str) -> tuple[Result, dict[str, Any]]:
    import json

    path = tmp_path / "manifests.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    result = CliRunner().invoke(main, ["scan", "--format", "json", *args, str(path)])
    return result, json.loads(result.stdout) if result.stdout.startswith("{") else {}


def apply_fix_to_sources(ctx: Context, fix: Fix) -> list[SourceObject]:
    """The context's sources with the fix's patches applied (jsonpatch, matched by source
    identity) and its new objects added."""
    inventory = ctx.inventory
    sources = [w.source for w in inventory.workloads if w.source is not None]
    sources += [p.source for p in inventory.policies if p.source is not None]
    sources += [n.source for n in inventory.namespaces.values() if n.source is not None]
    sources += [s.source for s in inventory.services if s.source is not None]
    sources += list(inventory.cilium_policies)
    result = []
    for source in {id(s): s for s in sources}.values():
        obj = source.obj
        for patch in fix.patches:
            if patch.source is source:
                obj = jsonpatch.apply_patch(copy.deepcopy(obj), patch.operations)
        result.append(SourceObject(obj, source.location))
    result += [SourceObject(new.obj, Location("new.yaml", 0, 1)) for new in fix.creates]
    return result


def rescan(ctx: Context, fix: Fix, rule: Rule) -> tuple[Context, list[Finding]]:
    """Apply the fix and run the rule again on the result, with the same settings."""
    after = Context(build_inventory(apply_fix_to_sources(ctx, fix)), ctx.settings)
    return after, list(rule.check(after))
