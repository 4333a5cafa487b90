"""A structural mutation fuzzer over the corpus: no input may crash netpol-fix (issue 15).

Documents from the repository's corpus (tests/corpus), the examples and the golden inputs
are parsed, mutated the way broken and hostile manifests arrive (a key deleted or renamed,
a value replaced by another type, a null, a deep list, a control character or an anchor
bomb, a collection duplicated, `spec` nulled), written back as YAML or JSON and run
through the whole pipeline: reading, the inventory, every rule, fix planning and the
byte-faithful editor, the text/JSON/SARIF outputs; every tenth case through the CLI as
well. The assertion is the absence of a crash: any exception other than the documented
SystemExit fails, with the seed and the mutated text to reproduce it. Iterations are
bounded and the seed is fixed, so the run is deterministic (about 15 s here).
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.config import Settings
from netpol_fix.emit.findings import render_json, render_sarif, render_text
from netpol_fix.fixes.files import apply_plan, unified_diff
from netpol_fix.fixes.plan import build_plan
from netpol_fix.inventory.load import load_inventory
from netpol_fix.inventory.sources import clear_text_cache
from netpol_fix.rules.context import Context
from netpol_fix.rules.registry import RULES, run_rules
from tests.corpus_path import corpus_path

REPO = Path(__file__).resolve().parents[1]
SEED = 20261207
ITERATIONS = 300
KINDS = ("kind: NetworkPolicy", "kind: Namespace", "kind: Deployment", "kind: Pod",
         "kind: CiliumNetworkPolicy", "kind: Service")


def corpus_documents() -> list[dict[str, Any]]:
    """Small corpus files holding kinds netpol-fix reads, as parsed documents."""
    roots = [corpus_path(), REPO / "examples", REPO / "golden"]
    files = sorted(p for root in roots for p in root.rglob("*.y*ml")
                   if p.stat().st_size < 20_000)
    documents = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if not any(kind in text for kind in KINDS) or "{{" in text:
            continue
        try:
            loaded = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue
        documents.extend(loaded)
    return documents


HOSTILE_VALUES: list[Any] = [
    None, True, "yes", 0, -1, 65536, 1.5, "", "x" * 300, [], {}, [[[[[]]]]], {"a": {"b": {}}},
    "a\n::error file=x::pwned", "\x1b[31mred", "10.0.0.0/99", "fe80::1%eth0/64", " 10.0.0.0/8",
    "Bad_Name", "0755", ["x", None, 5], {"matchLabels": {"a b": "c"}},
    {"matchExpressions": [{"key": "a", "operator": "Nope"}]},
]


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    found = [(path, value)]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _nodes(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _nodes(child, (*path, index))
    return found


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


def mutate(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One to three structural mutations of a copy of `doc`."""
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        nodes = [n for n in _nodes(doc) if n[0]]
        if not nodes:
            break
        path, value = rng.choice(nodes)
        parent = _parent(doc, path)
        key = path[-1]
        action = rng.choice(["delete", "replace", "replace", "null", "rename", "duplicate",
                             "deep", "wrap", "spec"])
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
        elif action == "null":
            parent[key] = None
        elif action == "rename" and isinstance(parent, dict):
            parent[f"{key}x"] = parent.pop(key)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(value))
        elif action == "deep":
            nested: list[Any] = ["leaf"]
            for _level in range(rng.choice([50, 400, 990])):
                nested = [nested]
            parent[key] = nested
        elif action == "wrap":
            parent[key] = [value]
        elif action == "spec":
            doc["spec"] = rng.choice([None, [], "spec", {}])
    return doc


def render(docs: list[dict[str, Any]], rng: random.Random) -> tuple[str, str]:
    """The documents as one YAML stream, a JSON List, or a YAML stream with a bomb."""
    style = rng.choice(["yaml", "yaml", "json", "bomb"])
    if style == "json":
        return "json", json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
    text = yaml.safe_dump_all(docs, sort_keys=False)
    if style == "bomb":
        text += ("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n"
                 "  a: &a [x, x, x, x, x, x, x, x, x]\n"
                 + "".join(f"  b{i}: &b{i} [{', '.join([f'*b{i - 1}' if i else '*a'] * 9)}]\n"
                           for i in range(8)))
    return "yaml", text


def pipeline(path: Path) -> tuple[int, int]:
    """Everything `scan` and `fix --dry-run --unsafe-fixes` do, without the CLI; the
    numbers of findings and of input errors."""
    clear_text_cache()
    inventory = load_inventory([str(path)])
    findings = run_rules(Context(inventory, Settings()), list(RULES.values()))
    render_text(findings)
    render_json(findings, inventory.errors)
    render_sarif(findings, list(RULES.values()), inventory.errors)
    plan = build_plan(findings, unsafe=True)
    unified_diff(apply_plan(plan))
    return len(findings), len(inventory.errors)


@pytest.fixture(scope="module")
def documents() -> list[dict[str, Any]]:
    docs = corpus_documents()
    assert len(docs) > 200, "the corpus should give a few hundred documents"
    return docs


def test_mutated_corpus_documents_never_crash(documents: list[dict[str, Any]],
                                              tmp_path: Path) -> None:
    rng = random.Random(SEED)
    runner = CliRunner()
    with_findings = with_errors = 0
    for iteration in range(ITERATIONS):
        chosen = [mutate(rng.choice(documents), rng) for _ in range(rng.randint(1, 4))]
        suffix, text = render(chosen, rng)
        path = tmp_path / f"case{iteration}.{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            findings, errors = pipeline(path)
            with_findings += bool(findings)
            with_errors += bool(errors)
        except Exception as exc:  # noqa: BLE001 - the failure message carries the case
            pytest.fail(f"iteration {iteration} (seed {SEED}) crashed with {exc!r}:\n"
                        f"{text[:3000]}")
        if iteration % 10 == 0:
            for args in (["scan", "--format", "sarif"], ["fix", "--dry-run", "--unsafe-fixes"]):
                clear_text_cache()
                result = runner.invoke(main, [*args, str(path)])
                assert result.exception is None or isinstance(result.exception, SystemExit), \
                    f"iteration {iteration}: {args} raised {result.exception!r}:\n{text[:3000]}"
                assert result.exit_code in (0, 1, 2)
                assert "Traceback" not in result.output
        path.unlink()
    # the mutations must reach the rules and the error paths both, or the test tests little
    assert with_findings > ITERATIONS // 20 and with_errors > ITERATIONS // 4, \
        (with_findings, with_errors)
