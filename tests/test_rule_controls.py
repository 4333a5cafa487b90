"""--select, --ignore, `.netpol-fix.yaml` and the ignore annotation, for every rule.

Each rule's positive golden case is scanned as it is and then with each control: the rule
must disappear (or, for the annotation, stop naming the annotated object).
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.rules.registry import RULES
from netpol_fix.yamledit import apply_operations

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def positive_case(rule: str) -> Path:
    for case in sorted((GOLDEN / rule).iterdir()):
        expect = case / "expect"
        if expect.exists() and expect.read_text().strip() == "positive":
            return case
    raise AssertionError(f"no positive golden case for {rule}")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()  # the config lookup stops here
    monkeypatch.chdir(tmp_path)
    return tmp_path


def scan(case_args: list[str], *extra: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["scan", "--format", "json", "input", *case_args, *extra])
    assert result.exit_code in (0, 1), result.output
    findings: list[dict[str, Any]] = json.loads(result.stdout)["findings"]
    return findings


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_control_turns_every_rule_off(rule: str, workspace: Path) -> None:
    case = positive_case(rule)
    shutil.copytree(case / "input", workspace / "input")
    args_file = case / "args"
    raw = shlex.split(args_file.read_text()) if args_file.exists() else []
    # the case's own options, without its rule choice (that is what is tested here)
    args = [a for i, a in enumerate(raw) if a not in ("--select", "--unsafe-fixes")
            and (i == 0 or raw[i - 1] != "--select")]
    other = next(r for r in sorted(RULES) if r != rule)

    def ids(findings: list[dict[str, Any]]) -> set[str]:
        return {f["rule"] for f in findings}

    found = scan(args)
    assert rule in ids(found)
    assert ids(scan(args, "--select", rule)) == {rule}
    assert rule not in ids(scan(args, "--ignore", rule))
    assert rule not in ids(scan(args, "--select", other))

    config = workspace / ".netpol-fix.yaml"
    config.write_text(f"ignore: [{rule}]\n")
    assert rule not in ids(scan(args))
    assert rule in ids(scan(args, "--ignore", other))  # the option replaces the file's list
    config.write_text(f"select: {other}\n")
    assert rule not in ids(scan(args))
    config.unlink()

    # the annotation on the object the finding names: no finding of the rule names it
    first = next(f for f in found if f["rule"] == rule)
    location = first["location"]
    path = workspace / location["file"]
    text = path.read_text()
    annotations = _annotations(first)
    value = {"netpol-fix.io/ignore": f"other-rule, {rule}"}
    operation = ({"op": "add", "path": "/metadata/annotations", "value": value}
                 if annotations is None else
                 {"op": "add", "path": "/metadata/annotations/netpol-fix.io~1ignore",
                  "value": value["netpol-fix.io/ignore"]})
    path.write_text(apply_operations(text, location["document"], [operation]))
    again = scan(args)
    assert not [f for f in again if f["rule"] == rule and f["object"] == first["object"]]


def _annotations(finding: dict[str, Any]) -> dict[str, Any] | None:
    """The annotations of the finding's object as the file has them (None: no key)."""
    import yaml

    location = finding["location"]
    docs = list(yaml.safe_load_all(Path(location["file"]).read_text()))
    metadata = docs[location["document"]].get("metadata") or {}
    annotations = metadata.get("annotations")
    return annotations if isinstance(annotations, dict) else None


def test_config_rule_ids_are_checked(workspace: Path) -> None:
    (workspace / "input").mkdir()
    (workspace / ".netpol-fix.yaml").write_text("ignore: [no-such-rule]\n")
    result = CliRunner().invoke(main, ["scan", "input"])
    assert result.exit_code == 2
    assert "unknown rule id 'no-such-rule'" in result.output
    assert ".netpol-fix.yaml" in result.output
    (workspace / ".netpol-fix.yaml").write_text("select: 3\n")
    result = CliRunner().invoke(main, ["scan", "input"])
    assert result.exit_code == 2 and "expected a list of rule ids" in result.output
