"""The pull request text: its verify commands really show the restored flows allowed."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.config import Settings
from netpol_fix.fixes.files import apply_plan, unified_diff, write_results
from netpol_fix.fixes.plan import build_plan
from netpol_fix.inventory.load import load_inventory
from netpol_fix.pr import body
from netpol_fix.rules.context import Context
from netpol_fix.rules.registry import RULES, run_rules
from tests.pr.conftest import REPO


def test_verify_commands_pass_on_the_fixed_files(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    inventory = load_inventory(["examples"])
    findings = run_rules(Context(inventory, Settings()), list(RULES.values()))
    plan = build_plan(findings, unsafe=True)
    results = apply_plan(plan)
    text = body.render(plan.applied, unified_diff(results), "main", ["examples"])
    write_results(results)
    section = text.body.split("### How to verify", 1)[1]
    commands = [line for line in section.splitlines() if line.startswith("netpol-fix ")]
    explains = [c for c in commands if " explain " in c]
    assert "netpol-fix explain examples --from monitoring/prometheus[Deployment] --to " \
           "shop/api[Deployment] --protocol TCP --port 9000" in [
               " ".join(shlex.split(c)) for c in explains]
    for command in explains:
        result = CliRunner().invoke(main, shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.output)
    assert text.title == f"netpol-fix: {len(plan.applied)} fixes in payments, shop"
    assert len(plan.applied) >= 4
    assert body.fingerprint_of(text.body) == text.fingerprint
    again = body.render(plan.applied, unified_diff(results), "main", ["examples"])
    assert again == text


def test_title_and_branch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    inventory = load_inventory(["examples"])
    findings = run_rules(Context(inventory, Settings()), [RULES["missing-dns-egress"]])
    applied = build_plan(findings, unsafe=False).applied
    assert body.title(applied[:1]) == "netpol-fix: add DNS egress to shop/default-deny"
    assert body.branch_name("main", applied) == body.branch_name("main", applied[::-1])
    assert body.branch_name("main", applied) != body.branch_name("main", applied[:1])
    assert body.branch_name("main", applied).startswith("netpol-fix/main/")


def test_huge_diff_is_truncated() -> None:
    text = body.render([], "+x\n" * 40_000, "main", ["."])
    assert len(text.body) < 65_536 and "diff truncated" in text.body


@pytest.mark.parametrize("ref, expected", [
    ("shop/Deployment/web", "shop/web[Deployment]"),
    ("kube-system/k8s-app=kube-dns", None),
    ("10.0.0.0/8", "10.0.0.0/8"),
])
def test_explain_endpoint(ref: str, expected: str | None) -> None:
    assert body._explain_endpoint(ref) == expected
