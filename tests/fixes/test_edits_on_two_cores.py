"""`fix` with its reading and its edits on two cores (workers.py) gives what it gives in
one process: the same diff, the same messages and exit code, the same files written, a
refused file refused the same way."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from netpol_fix import workers
from netpol_fix.cli import main
from netpol_fix.fixes import files
from netpol_fix.inventory import parallel_read

DENY_EGRESS = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-egress-{i}   # the team's default deny
  namespace: team-{i}
spec:
  podSelector: {{}}
  policyTypes: [Egress]
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Eight files whose default-deny forgets DNS (one safe fix each), and one the editor
    refuses (mixed line endings) though the reader reads it."""
    root = tmp_path / "repo"
    root.mkdir()
    for i in range(8):
        (root / f"team-{i}.yaml").write_text(DENY_EGRESS.format(i=i))
    mixed = DENY_EGRESS.format(i=9).replace("\n", "\r", 1)
    (root / "team-9.yaml").write_bytes(mixed.encode())
    return root


def _run(args: list[str], two_cores: bool, monkeypatch: pytest.MonkeyPatch
         ) -> tuple[int, str, str, list[int]]:
    forks: list[int] = []
    with monkeypatch.context() as patch:
        if two_cores:
            patch.setattr(workers, "_cores", lambda: 2)
            patch.setattr(workers, "_runnable", lambda: 1)
            patch.setattr(files, "PARALLEL_EDIT_BYTES", 0)
            patch.setattr(parallel_read, "PARALLEL_MIN_BYTES", 0)
            patch.delenv(workers.WORKERS_VARIABLE, raising=False)
            fork = workers._fork

            def spy(jobs: Any, export: Any) -> Any:
                forks.append(len(jobs))
                return fork(jobs, export)

            patch.setattr(workers, "_fork", spy)
        else:
            patch.setenv(workers.WORKERS_VARIABLE, "1")
        result = CliRunner().invoke(main, args)
    return result.exit_code, result.stdout, result.stderr, forks


def test_the_dry_run_is_the_same(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["fix", "--dry-run", str(tree)]
    alone = _run(args, False, monkeypatch)
    both = _run(args, True, monkeypatch)
    assert both[:3] == alone[:3]
    assert len(both[3]) >= 2  # the reading and the edits each had a child
    assert "deny-egress-0" in alone[1] and "team-9.yaml" in alone[2]  # refused, told


def test_the_files_written_are_the_same(tree: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    alone = _run(["fix", str(tree)], False, monkeypatch)
    both = _run(["fix", str(copy)], True, monkeypatch)
    assert both[0] == alone[0]
    assert both[3]
    for path in sorted(tree.iterdir()):
        assert (copy / path.name).read_bytes() == path.read_bytes(), path.name
    assert (copy / "team-0.yaml").read_text() != DENY_EGRESS.format(i=0)  # it was fixed
    assert (copy / "team-9.yaml").read_bytes() == \
        DENY_EGRESS.format(i=9).replace("\n", "\r", 1).encode()  # left as it was
