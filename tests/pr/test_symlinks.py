"""`pr` on a repository with a committed symlink out of it (issue 15, defect 1)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from netpol_fix.cli import main
from tests.pr.conftest import Checkout, git


def test_pr_never_writes_through_a_committed_symlink(checkout: Checkout,
                                                     tmp_path: Path) -> None:
    """A committed absolute symlink must not make `pr` rewrite a file outside the
    repository, and the commit message claims only the fixes the commit holds."""
    victim = tmp_path / "victim.yaml"
    shop_dir = checkout.repo / "examples" / "shop"
    (shop_dir / "netpol.yaml").rename(victim)
    (shop_dir / "netpol.yaml").symlink_to(victim)
    git(checkout.repo, "add", "-A")
    git(checkout.repo, "commit", "--quiet", "-m", "symlink")
    git(checkout.repo, "push", "--quiet", "origin", "main")
    before = victim.read_bytes()
    result = CliRunner().invoke(main, ["pr", "examples", "--forge", "none"])
    assert not isinstance(result.exception, Exception) or isinstance(result.exception,
                                                                     SystemExit)
    assert victim.read_bytes() == before
    assert "outside the repository's worktree" in result.stderr
    branches = [r for r in checkout.remote_refs() if r.startswith("refs/heads/netpol-fix/")]
    assert len(branches) == 1, result.stderr
    message = git(checkout.remote, "log", "-1", "--format=%B", branches[0])
    changed = git(checkout.remote, "diff", "--name-only", "main", branches[0]).splitlines()
    assert "examples/shop/netpol.yaml" not in changed
    assert "default-deny" not in message, message  # that fix lives in the symlinked file
    assert "examples/shop/payments-netpol.yaml" in changed, changed
    assert "netpol.yaml" not in message.replace("payments-netpol.yaml", "")
