"""The GitHub Action (action.yml) runs: its shell steps are executed here as a runner would.

`uses:` steps (setup-python, upload-sarif) are skipped; every `run:` step gets its `env:`
with the `${{ }}` expressions evaluated, `bash --noprofile --norc -eo pipefail` as Actions
uses, and GITHUB_PATH/GITHUB_OUTPUT files honoured between steps. An expression this
runner does not know fails the test instead of being guessed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.pr.conftest import Checkout, git

REPO = Path(__file__).resolve().parent.parent
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


def evaluate(expr: str, context: dict[str, str]) -> str:
    expr = expr.strip()
    if expr in context:
        return context[expr]
    match = re.fullmatch(r"(\S+)\s*==\s*'([^']*)'", expr)
    if match and match.group(1) in context:
        return "true" if context[match.group(1)] == match.group(2) else "false"
    raise AssertionError(f"expression this test runner does not know: {expr!r}")


def substitute(text: str, context: dict[str, str]) -> str:
    return EXPRESSION.sub(lambda m: evaluate(m.group(1), context), text)


def run_action(inputs: dict[str, str], workspace: Path, runner_temp: Path,
               extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run action.yml's steps; which ran, which were skipped, the outputs written."""
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    declared = action["inputs"]
    assert set(inputs) <= set(declared), "unknown input"
    context = {"github.action_path": str(REPO), "github.workspace": str(workspace),
               "github.token": "unused-token", "github.api_url": "https://api.github.com",
               "github.repository": "acme/infra"}
    for name, spec in declared.items():
        value = inputs.get(name, str(spec.get("default", "")))
        context[f"inputs.{name}"] = substitute(value, context)
    files = {name: runner_temp / f"{name.lower()}.txt"
             for name in ("GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_ENV")}
    for file in files.values():
        file.write_text("")
    ran, skipped = [], []
    for step in action["runs"]["steps"]:
        label = step.get("name") or step.get("uses")
        if "if" in step and evaluate(step["if"], context) != "true":
            skipped.append(label)
            continue
        if "uses" in step:
            skipped.append(label)
            continue
        added = [line for line in files["GITHUB_PATH"].read_text().splitlines() if line]
        env = {**os.environ, **(extra_env or {}),
               "PATH": os.pathsep.join([*reversed(added), str(Path(sys.executable).parent),
                                        os.environ["PATH"]]),
               "RUNNER_TEMP": str(runner_temp), "GITHUB_WORKSPACE": str(workspace),
               "GITHUB_ACTION_PATH": str(REPO),
               **{k: str(v) for k, v in files.items()}}
        env.update({k: substitute(str(v), context) for k, v in step.get("env", {}).items()})
        cwd = substitute(step.get("working-directory", str(workspace)), context)
        script = runner_temp / "step.sh"
        script.write_text(step["run"])
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail",
                               str(script)], cwd=cwd, env=env, capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, f"step {label!r} failed:\n{done.stdout}\n{done.stderr}"
        ran.append(label)
    outputs = dict(line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text()
                   .splitlines() if "=" in line)
    return {"ran": ran, "skipped": skipped, "outputs": outputs}


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared between the tests so the action's venv is built once."""
    return tmp_path_factory.mktemp("runner-temp")


def test_scan_writes_sarif(tmp_path: Path, runner_temp: Path) -> None:
    workspace = tmp_path / "workspace"
    shutil.copytree(REPO / "examples", workspace / "examples")
    result = run_action({"paths": "examples", "sarif-file": "out/netpol.sarif"}, workspace,
                        runner_temp)
    assert result["ran"] == ["Install netpol-fix", "Scan"]
    assert result["skipped"] == ["actions/setup-python@v5",
                                 "github/codeql-action/upload-sarif@v3", "Fix pull request"]
    assert result["outputs"] == {"sarif-file": "out/netpol.sarif"}
    sarif = json.loads((workspace / "out/netpol.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    rules = {r["ruleId"] for r in sarif["runs"][0]["results"]}
    assert "missing-dns-egress" in rules
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in sarif["runs"][0]["results"]}
    assert "examples/shop/netpol.yaml" in uris


def test_scan_fails_on_findings_when_asked(tmp_path: Path, runner_temp: Path) -> None:
    workspace = tmp_path / "workspace"
    shutil.copytree(REPO / "examples", workspace / "examples")
    with pytest.raises(AssertionError, match="step 'Scan' failed"):
        run_action({"paths": "examples", "fail-on-findings": "true"}, workspace, runner_temp)
    assert (workspace / "netpol-fix.sarif").is_file()


def test_pr_step_pushes_the_fix_branch(tmp_path: Path, runner_temp: Path) -> None:
    checkout = Checkout(tmp_path)
    result = run_action({"paths": "examples", "pr": "true", "pr-args": "--forge none"},
                        checkout.repo, runner_temp)
    assert result["ran"] == ["Install netpol-fix", "Scan", "Fix pull request"]
    assert any(ref.startswith("refs/heads/netpol-fix/main/")
               for ref in checkout.remote_refs())
    assert git(checkout.repo, "status", "--porcelain") == "?? netpol-fix.sarif"
