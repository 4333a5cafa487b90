"""Git for `pr`: everything happens in a throwaway worktree, nothing in the user's checkout.

The user's HEAD, current branch, index and working tree are never touched: the fixes are
made in a detached `git worktree` of the base commit, the commit is created with
`git commit-tree` (no local branch is created or moved), and it is pushed straight to the
remote branch with `--force-with-lease` pinned to the tip we compared against, so a branch
somebody else moved meanwhile is refused rather than overwritten. Only remote-tracking
refs change (`git fetch`), as with any fetch.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from netpol_fix.pr.errors import PrError

BOT_NAME = "netpol-fix"
BOT_EMAIL = "netpol-fix@users.noreply.github.com"


def run_git(args: Sequence[str], cwd: Path | str, *, check: bool = True,
            env: dict[str, str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run git without prompts; a failure becomes a PrError carrying git's own words."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              env=full_env, input=stdin, check=False)
    except FileNotFoundError:
        raise PrError("git is not installed (or not on PATH)") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip() or f"exit code {proc.returncode}"
        raise PrError(f"git {args[0]} failed: {detail}")
    return proc


def git_out(args: Sequence[str], cwd: Path | str) -> str:
    return run_git(args, cwd).stdout.strip()


def repo_root(cwd: Path | str = ".") -> Path:
    proc = run_git(["rev-parse", "--show-toplevel"], cwd, check=False)
    if proc.returncode != 0:
        raise PrError(f"{Path(cwd).resolve()} is not inside a git repository")
    return Path(proc.stdout.strip())


def remote_url(root: Path, remote: str) -> str:
    """The remote's URL as configured (before `insteadOf` rewriting): the forge repository
    is named there even when git is told to reach it another way."""
    proc = run_git(["remote", "get-url", remote], root, check=False)
    if proc.returncode != 0:
        raise PrError(f"no git remote named {remote!r} (see `git remote -v`; choose one "
                      "with --remote)")
    configured = run_git(["config", "--get", f"remote.{remote}.url"], root, check=False)
    return configured.stdout.strip() or proc.stdout.strip()


@dataclass(frozen=True)
class Base:
    """The branch the fixes are made against, and how it was chosen (said to the user)."""

    branch: str
    reason: str


def default_base(root: Path, remote: str) -> Base:
    """The remote's default branch; else the current branch's upstream on that remote."""
    local = run_git(["symbolic-ref", "--quiet", f"refs/remotes/{remote}/HEAD"], root,
                    check=False)
    prefix = f"refs/remotes/{remote}/"
    if local.returncode == 0 and local.stdout.strip().startswith(prefix):
        return Base(local.stdout.strip()[len(prefix):], f"the default branch of {remote}")
    listed = run_git(["ls-remote", "--symref", remote, "HEAD"], root, check=False)
    match = re.search(r"^ref: refs/heads/(\S+)\s+HEAD$", listed.stdout, re.MULTILINE)
    if listed.returncode == 0 and match:
        return Base(match.group(1), f"the default branch of {remote}")
    upstream = run_git(["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}"],
                       root, check=False)
    name = upstream.stdout.strip()
    if upstream.returncode == 0 and name.startswith(f"{remote}/"):
        return Base(name[len(remote) + 1:], "the upstream of the current branch")
    raise PrError(f"cannot tell the base branch: {remote} has no default branch and the "
                  "current branch has no upstream there; give --base")


def fetch_branch(root: Path, remote: str, branch: str) -> str | None:
    """Fetch one branch of the remote; its tip, or None when the remote has no such branch."""
    listed = run_git(["ls-remote", "--heads", remote, f"refs/heads/{branch}"], root)
    if not listed.stdout.strip():
        return None
    run_git(["fetch", "--quiet", "--no-tags", remote,
             f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"], root)
    return git_out(["rev-parse", "--verify", f"refs/remotes/{remote}/{branch}^{{commit}}"],
                   root)


@contextmanager
def temporary_worktree(root: Path, commit: str) -> Iterator[Path]:
    """A detached worktree of `commit` in a temporary directory, removed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="netpol-fix-pr-"))
    path = parent / "worktree"
    run_git(["worktree", "add", "--quiet", "--detach", str(path), commit], root)
    try:
        yield path
    finally:
        run_git(["worktree", "remove", "--force", str(path)], root, check=False)
        shutil.rmtree(parent, ignore_errors=True)
        run_git(["worktree", "prune"], root, check=False)


def stage_tree(worktree: Path, files: Sequence[str]) -> str:
    """Stage the edited files in the worktree's own index; the tree id they make."""
    run_git(["add", "--", *files], worktree)
    return git_out(["write-tree"], worktree)


def tree_of(root: Path, commit: str) -> str:
    return git_out(["rev-parse", f"{commit}^{{tree}}"], root)


def _identity(worktree: Path) -> dict[str, str]:
    """The configured identity if there is one, else the bot's (a CI runner has none)."""
    env: dict[str, str] = {}
    for kind in ("AUTHOR", "COMMITTER"):
        if run_git(["var", f"GIT_{kind}_IDENT"], worktree, check=False).returncode != 0:
            env[f"GIT_{kind}_NAME"] = BOT_NAME
            env[f"GIT_{kind}_EMAIL"] = BOT_EMAIL
    return env


def commit_tree(worktree: Path, tree: str, parent: str, message: str) -> str:
    """A commit of `tree` on `parent`, referenced by no branch until it is pushed."""
    done = run_git(["commit-tree", tree, "-p", parent, "-F", "-"], worktree,
                   env=_identity(worktree), stdin=message)
    return done.stdout.strip()


def push(root: Path, remote: str, commit: str, branch: str, expected: str | None) -> None:
    """Push `commit` to the remote branch, only if the branch is still at `expected`
    (None: only if it does not exist), so a concurrent push is never overwritten."""
    lease = f"--force-with-lease=refs/heads/{branch}:{expected or ''}"
    done = run_git(["push", "--porcelain", lease, remote, f"{commit}:refs/heads/{branch}"],
                   root, check=False)
    if done.returncode == 0:
        return
    if "stale info" in done.stdout or "fetch first" in done.stdout:
        raise PrError(f"{remote}/{branch} moved while netpol-fix was working (rejected: "
                      "stale info); nothing was overwritten, run again")
    detail = "\n".join(part.strip() for part in (done.stderr, done.stdout) if part.strip())
    raise PrError(f"git push to {remote} failed: {detail}")


_REMOTE_PATTERNS = (
    re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/(?P<path>.+?)"
               r"(?:\.git)?/?$"),
    re.compile(r"^(?:[^@/]+@)?(?P<host>[^/:]+):(?P<path>[^/].*?)(?:\.git)?/?$"),
)


def parse_remote(url: str) -> tuple[str | None, str | None]:
    """(host, OWNER/NAME) from an https, ssh or scp-like remote URL; Nones for local ones."""
    if url.startswith(("file://", "/", ".")):
        return None, None
    for pattern in _REMOTE_PATTERNS:
        match = pattern.match(url)
        if match and "/" in match.group("path"):
            return match.group("host"), match.group("path")
    return None, None
