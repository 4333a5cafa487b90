"""The program ends with os._exit once its output is flushed (cli/group.py run): the exit
status, the output and a reader closing the pipe early behave as a normal exit would,
without freeing the analysis object by object first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netpol_fix.cli.group import _exit_status

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _program(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netpol_fix", *args], capture_output=True,
                          text=True, check=False, **kwargs)  # type: ignore[call-overload]


def test_status_and_output_are_those_of_the_command() -> None:
    """scan with findings exits 1 and writes its whole report; a usage error exits 2;
    --version exits 0."""
    found = _program("scan", str(EXAMPLES))
    assert found.returncode == 1
    assert found.stdout.splitlines()[-1].startswith("Found ")
    assert _program("scan", "--no-such-option").returncode == 2
    assert "No such option" in _program("scan", "--no-such-option").stderr
    assert _program("--version").returncode == 0


def test_output_is_complete_when_redirected_to_a_file(tmp_path: Path) -> None:
    """Block-buffered stdout (a file, not a terminal) is flushed before the process ends."""
    target = tmp_path / "report.json"
    with target.open("w") as out:
        done = subprocess.run([sys.executable, "-m", "netpol_fix", "scan", "-o", "json",
                               str(EXAMPLES)], stdout=out, stderr=subprocess.PIPE,
                              check=False)
    assert done.returncode == 1
    import json
    assert json.loads(target.read_text())["findings"]


def test_a_reader_closing_the_pipe_early_gets_no_traceback(tmp_path: Path) -> None:
    """`netpol-fix scan . | head -1`: the first line arrives, nothing is printed about the
    closed pipe, and the status is 1 (findings), not the interpreter's 120. (The report is
    several times a pipe's 64 KiB buffer, so the writer meets the closed pipe.)"""
    policies = "".join(f"""---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: deny-egress-{i}, namespace: ns-{i}}}
spec: {{podSelector: {{}}, policyTypes: [Egress]}}
""" for i in range(600))
    (tmp_path / "policies.yaml").write_text(policies)
    proc = subprocess.Popen([sys.executable, "-m", "netpol_fix", "scan", "--color", "never",
                             str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    errors = proc.stderr.read().decode()
    assert proc.wait() == 1
    assert b"missing-dns-egress" in first
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (1, 1), (2, 2)])
def test_exit_status_of_sys_exit_codes(code: object, status: int) -> None:
    assert _exit_status(code) == status


def test_a_message_given_to_sys_exit_is_printed_and_exits_1(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_status("cannot go on") == 1
    assert capsys.readouterr().err == "cannot go on\n"
