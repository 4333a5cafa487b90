"""Usage, configuration and connection errors: exit code 2, a message, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from netpol_fix.cli import main
from tests.cluster_apply.test_namespace_fake import LABEL_OPS, entry

UNREACHABLE = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""


def run(tmp_path: Path, patches: str, kubeconfig: str | None, *args: str) -> Result:
    (tmp_path / "p.json").write_text(patches)
    argv = ["apply", "--patches", str(tmp_path / "p.json"), *args]
    if kubeconfig is not None:
        (tmp_path / "kubeconfig").write_text(kubeconfig)
        argv += ["--kubeconfig", str(tmp_path / "kubeconfig")]
    return CliRunner().invoke(main, argv)


def assert_error(result: Result, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert text in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_unreachable_server(tmp_path: Path) -> None:
    result = run(tmp_path, json.dumps([entry(LABEL_OPS)]), UNREACHABLE, "--yes")
    assert_error(result, "error: cannot talk to the API server of context 'c'")


def test_unknown_context(tmp_path: Path) -> None:
    result = run(tmp_path, json.dumps([entry(LABEL_OPS)]), UNREACHABLE, "--yes",
                 "--context", "nope")
    assert_error(result, "error: cannot use kubeconfig")


def test_kubeconfig_that_is_not_yaml(tmp_path: Path) -> None:
    result = run(tmp_path, "[]", "{{ not yaml", "--yes")
    assert_error(result, "error: cannot use kubeconfig")


def test_missing_kubeconfig(tmp_path: Path) -> None:
    result = run(tmp_path, "[]", None, "--yes", "--kubeconfig", str(tmp_path / "absent"))
    assert_error(result, "error: cannot use kubeconfig")


def test_patch_file_that_is_not_fix_output(tmp_path: Path) -> None:
    result = run(tmp_path, '{"findings": []}', UNREACHABLE, "--yes")
    assert_error(result, "expected a JSON list")


def test_patches_option_is_required() -> None:
    result = CliRunner().invoke(main, ["apply", "--yes"])
    assert result.exit_code == 2 and "--patches" in result.output
