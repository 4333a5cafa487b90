"""`pr` against real git: a repository with a bare remote over file://, --forge none.

What must hold: the pushed branch holds exactly what `fix` writes in place; a rerun pushes
nothing; the user's checkout (HEAD, branch, index, working tree with an uncommitted change)
is exactly as it was; a moved remote branch is never overwritten.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.pr import git as pr_git
from netpol_fix.pr.errors import PrError
from tests.pr.conftest import REPO, Checkout, git

FILES = ["examples/shop/netpol.yaml", "examples/shop/payments-netpol.yaml",
         "examples/shop/workloads.yaml", "examples/shop/namespaces.yaml"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def checkout_state(repo: Path) -> dict[str, object]:
    """Everything of the user's checkout that `pr` must leave alone."""
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "branch": git(repo, "symbolic-ref", "HEAD"),
        "index": git(repo, "ls-files", "--stage"),
        "staged": git(repo, "diff", "--cached"),
        "unstaged": git(repo, "diff"),
        "local branches": git(repo, "for-each-ref", "refs/heads"),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
        "files": {str(p.relative_to(repo)): p.read_bytes() for p in sorted(repo.rglob("*"))
                  if p.is_file() and ".git" not in p.relative_to(repo).parts},
    }


def fixed_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What `netpol-fix fix examples` writes in place, from a plain copy."""
    copy = tmp_path / "in-place"
    shutil.copytree(REPO / "examples", copy / "examples")
    with monkeypatch.context() as patch:
        patch.chdir(copy)
        code, _, _ = run("fix", "examples")
    assert code == 1  # unsafe fixes remain
    return {f: (copy / f).read_text() for f in FILES}


def test_pushes_one_branch_holding_what_fix_writes(checkout: Checkout, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (checkout.repo / "examples/shop/netpol.yaml").write_text("# uncommitted edit\n",
                                                            encoding="utf-8")
    git(checkout.repo, "add", "examples/shop/namespaces.yaml")  # a staged no-op
    before = checkout_state(checkout.repo)
    code, out, err = run("pr", "examples", "--forge", "none")
    assert code == 0, err
    branch = out.strip()
    assert branch.startswith("netpol-fix/main/")
    assert "base: main (the default branch of origin)" in err
    refs = checkout.remote_refs()
    assert set(refs) == {"refs/heads/main", f"refs/heads/{branch}"}
    expected = fixed_in_place(tmp_path, monkeypatch)
    for name in FILES:
        assert checkout.remote_file(branch, name) == expected[name].rstrip("\n")
    assert expected["examples/shop/netpol.yaml"] != checkout.remote_file("main", FILES[0])
    parent = git(checkout.remote, "rev-parse", f"{branch}^")
    assert parent == refs["refs/heads/main"]
    message = git(checkout.remote, "log", "-1", "--format=%B", branch)
    assert re.match(r"netpol-fix: \d+ fixes in payments, shop", message)
    assert "- missing-dns-egress: NetworkPolicy shop/default-deny (safe)" in message
    assert "- missing-dns-egress: NetworkPolicy payments/gateway-egress (safe)" in message
    assert checkout_state(checkout.repo) == before


def test_rerun_pushes_nothing(checkout: Checkout) -> None:
    code, out, _ = run("pr", "examples", "--forge", "none")
    assert code == 0
    refs, commits = checkout.remote_refs(), checkout.remote_commits()
    code, again, err = run("pr", "examples", "--forge", "none")
    assert code == 0
    assert again == out
    assert "already holds these fixes: nothing pushed" in err
    assert checkout.remote_refs() == refs
    assert checkout.remote_commits() == commits


def test_unsafe_fixes_make_another_branch(checkout: Checkout) -> None:
    _, safe, _ = run("pr", "examples", "--forge", "none")
    code, unsafe, _ = run("pr", "examples", "--forge", "none", "--unsafe-fixes")
    assert code == 0 and unsafe != safe
    body = checkout.remote_file(unsafe.strip(), "examples/shop/netpol.yaml")
    assert "kubernetes.io/metadata.name: monitoring" in body


def test_moved_base_updates_the_same_branch(checkout: Checkout) -> None:
    _, out, _ = run("pr", "examples", "--forge", "none")
    branch = out.strip()
    first = checkout.remote_refs()[f"refs/heads/{branch}"]
    (checkout.repo / "README.md").write_text("manifests\n", encoding="utf-8")
    git(checkout.repo, "add", "README.md")
    git(checkout.repo, "commit", "--quiet", "-m", "readme")
    git(checkout.repo, "push", "--quiet", "origin", "main")
    code, again, _err = run("pr", "examples", "--forge", "none")
    assert code == 0 and again == out
    second = checkout.remote_refs()[f"refs/heads/{branch}"]
    assert second != first
    assert git(checkout.remote, "rev-parse", f"{branch}^") == git(checkout.repo, "rev-parse",
                                                                    "HEAD")
    assert checkout.remote_file(branch, "README.md") == "manifests"


def test_push_refuses_a_branch_moved_by_someone_else(checkout: Checkout) -> None:
    _, out, _ = run("pr", "examples", "--forge", "none")
    branch = out.strip()
    main_tip = checkout.remote_refs()["refs/heads/main"]
    with pytest.raises(PrError, match="stale info|rejected"):
        pr_git.push(checkout.repo, "origin", main_tip, branch, expected=main_tip)
    with pytest.raises(PrError, match="stale info|rejected"):
        pr_git.push(checkout.repo, "origin", main_tip, branch, expected=None)


def test_explicit_base_branch_and_name(checkout: Checkout) -> None:
    git(checkout.repo, "push", "--quiet", "origin", "main:release")
    code, out, err = run("pr", "examples/shop/netpol.yaml", "--forge", "none", "--base",
                         "release", "--branch", "fix/dns", "--select", "missing-dns-egress")
    assert code == 0, err
    assert out.strip() == "fix/dns"
    assert "base: release (--base)" in err
    assert "kube-dns" in checkout.remote_file("fix/dns", "examples/shop/netpol.yaml")
    assert "kube-dns" not in checkout.remote_file("fix/dns",
                                                  "examples/shop/payments-netpol.yaml")


def test_nothing_to_fix_pushes_nothing(checkout: Checkout) -> None:
    refs = checkout.remote_refs()
    code, out, err = run("pr", "examples", "--forge", "none", "--select", "aws-vpc-cni-port-limit")
    assert (code, out) == (0, "")
    assert "nothing to fix" in err
    assert checkout.remote_refs() == refs


@pytest.mark.parametrize("args, message", [
    (["examples", "--remote", "upstream"], "no git remote named 'upstream'"),
    (["missing/dir"], "not in main: missing/dir"),
    (["examples", "--base", "nope"], "origin has no branch 'nope'"),
    (["-"], "stdin (-) is not supported"),
    (["examples", "--select", "no-such-rule"], "no-such-rule"),
    (["examples"], "GITHUB_TOKEN is not set"),
])
def test_errors_are_messages_with_exit_code_2(checkout: Checkout, args: list[str],
                                              message: str) -> None:
    forge = [] if args == ["examples"] else ["--forge", "none"]
    code, out, err = run("pr", *args, *forge)
    assert code == 2
    assert message in err
    assert "Traceback" not in err + out
    assert len(git(checkout.repo, "worktree", "list").splitlines()) == 1


def test_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run("pr", "examples", "--forge", "none")
    assert code == 2 and "is not inside a git repository" in err


@pytest.mark.parametrize("url, expected", [
    ("https://github.com/shop/infra.git", ("github.com", "shop/infra")),
    ("git@github.com:shop/infra.git", ("github.com", "shop/infra")),
    ("ssh://git@ghe.example.com:2222/shop/infra", ("ghe.example.com", "shop/infra")),
    ("https://x-access-token:abc@gitlab.example.com/group/sub/infra.git",
     ("gitlab.example.com", "group/sub/infra")),
    ("file:///srv/git/infra.git", (None, None)),
    ("/srv/git/infra.git", (None, None)),
])
def test_parse_remote(url: str, expected: tuple[str | None, str | None]) -> None:
    assert pr_git.parse_remote(url) == expected
