"""The package layering of netpol_fix, as README's "Architecture" section draws it.

Data flows one way: model at the bottom; inventory (sources -> objects) and the engine
(semantics) above it; the rules above the engine, using the fixes' helpers; outputs, the PR
bot, the live cluster and observed drops above those; the CLI on top. The graph is computed
from the source with `ast` (imports inside functions and under TYPE_CHECKING count too:
a cycle that only runs later is still a cycle), and every failure names the import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "netpol_fix"

_BASE = {"model", "config", "workers"}
_SEMANTICS = _BASE | {"inventory", "engine"}
_FIXING = _SEMANTICS | {"yamledit", "fixes", "rules"}
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "config": set(),
    "workers": set(),
    "yamldata": set(),
    "yamledit": {"yamldata"},
    "inventory": _BASE | {"yamldata"},
    "engine": _BASE | {"inventory"},
    "fixes": _SEMANTICS | {"yamledit"},
    "rules": _SEMANTICS | {"fixes", "yamledit"},
    "emit": _FIXING,
    "cluster": _BASE | {"inventory"},
    "drops": _FIXING | {"emit"},
    "pr": _FIXING | {"emit"},
    "cli": _FIXING | {"emit", "cluster", "drops", "pr"},
    "__main__": {"cli"},
}
"""Package (or top-level module) -> the packages it may import. `netpol_fix` itself (its
`__init__`, which only holds the version) may be imported from anywhere."""


def _unit(path: Path, root: Path) -> str:
    """The layer a file belongs to: its top-level package, or a top-level module's name."""
    parts = path.relative_to(root).parts
    return parts[0].removesuffix(".py")


def imports(root: Path) -> Iterator[tuple[str, str, Path, int]]:
    """(importing unit, imported unit, file, line) for every import of the package."""
    name = root.name
    for path in sorted(root.rglob("*.py")):
        unit = _unit(path, root)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    raise AssertionError(f"{path}:{node.lineno}: relative import; use "
                                         f"{name}.... so the layering stays visible")
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                if parts[0] == name and len(parts) > 1 and parts[1] != unit:
                    yield unit, parts[1], path, node.lineno


def violations(root: Path, allowed: Mapping[str, set[str]]) -> list[str]:
    problems = []
    for unit, target, path, line in imports(root):
        if unit not in allowed:
            problems.append(f"{path}:{line}: {unit} is not placed in the layering (add it to "
                            "ALLOWED and to README's architecture section)")
        elif target not in allowed[unit]:
            problems.append(f"{path}:{line}: {unit} may not import {target} (it may import: "
                            f"{', '.join(sorted(allowed[unit])) or 'nothing of netpol_fix'})")
    return problems


def cycles(root: Path) -> list[list[str]]:
    """Every cycle of the unit graph, found by depth-first search (each reported once)."""
    graph: dict[str, set[str]] = {}
    for unit, target, _path, _line in imports(root):
        graph.setdefault(unit, set()).add(target)
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def visit(node: str, stack: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cycle = stack[stack.index(nxt):] + [nxt]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    found.append(cycle)
            elif len(stack) < 50:
                visit(nxt, stack + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    return found


def test_package_imports_follow_the_layering() -> None:
    assert violations(PACKAGE, ALLOWED) == []


def test_package_graph_has_no_cycle() -> None:
    assert cycles(PACKAGE) == []


def test_every_package_says_what_it_may_import() -> None:
    """Each package's `__init__` docstring states its place (README links to them)."""
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "May import" in doc, f"{init}: docstring should say what it may import"
        assert init.parent.name in ALLOWED, f"{init.parent.name} is not placed in ALLOWED"


def test_the_checker_catches_a_cycle_and_a_layer_violation(tmp_path: Path) -> None:
    """The checks above can fail: a miniature package where the engine imports the rules
    back, and the rules import the engine."""
    root = tmp_path / "netpol_fix"
    for package, body in {
        "engine": "from netpol_fix.rules.base import Rule\n",
        "rules": "def f():\n    from netpol_fix.engine import network\n",
    }.items():
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text(body)
    expected = (f"{root / 'engine' / '__init__.py'}:1: engine may not import rules (it may "
                "import: config, inventory, model, workers)")
    assert violations(root, ALLOWED) == [expected]
    assert cycles(root) == [["engine", "rules", "engine"]]


HEAVY = ("kubernetes", "urllib3", "jsonpatch", "jsonpointer", "ruamel", "netpol_fix.pr",
         "netpol_fix.cluster", "netpol_fix.yamledit")


def _loaded_after(args: list[str]) -> set[str]:
    script = textwrap.dedent(f"""
        import sys
        from netpol_fix.cli import main
        try:
            main({args!r}, standalone_mode=False)
        except SystemExit:
            pass
        print("\\n".join(sorted(sys.modules)))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=PACKAGE.parent).stdout
    return {m for m in out.splitlines() if m.startswith(HEAVY)}


@pytest.mark.parametrize(("args", "used"), [
    (["rules"], set()),
    (["rule", "missing-dns-egress"], set()),
    (["explain", "examples/shop", "--from", "shop/web", "--to", "shop/api", "--port", "8080"],
     set()),
    # scan computes what each finding's fix opens by applying its patch: jsonpatch is used
    (["scan", "examples/shop"], {"jsonpatch", "jsonpointer"}),
])
def test_commands_load_only_what_they_use(args: list[str], used: set[str]) -> None:
    """`netpol-fix rules` (and explain, scan on files) import no kubernetes client, no PR
    code, no cluster code, no YAML editor, and jsonpatch only where a patch is applied."""
    assert _loaded_after(args) == used
