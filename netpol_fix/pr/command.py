"""`netpol-fix pr`: run the fixes in a throwaway worktree of the base branch, commit them
on one deterministic branch, push it, and open or update one pull request.

Reruns are idempotent: the branch name derives from the base and the set of fixed objects,
so the same fixes land on the same branch; when the remote branch already holds the same
tree nothing is pushed, and when the open pull request already carries the same title and
fingerprint nothing is sent to the forge either.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netpol_fix.config import ConfigError, load_settings
from netpol_fix.emit.findings import where
from netpol_fix.fixes.files import unified_diff, write_results
from netpol_fix.fixes.rounds import plan_around_refusals
from netpol_fix.fixes.scope import WriteScope
from netpol_fix.inventory.load import load_inventory
from netpol_fix.inventory.sources import Selection
from netpol_fix.pr import body as pr_body
from netpol_fix.pr import git
from netpol_fix.pr import github as gh
from netpol_fix.pr import gitlab as gl
from netpol_fix.pr.errors import PrError
from netpol_fix.pr.forge import Forge, Outcome
from netpol_fix.rules.context import Context
from netpol_fix.rules.registry import UnknownRule, run_rules, select_rules

FORGES = ("github", "gitlab", "none")
TOKEN_VARIABLE = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}


@dataclass
class PrOptions:
    sources: Sequence[str]
    base: str | None = None
    branch: str | None = None
    remote: str = "origin"
    forge: str = "github"
    api_url: str | None = None
    repository: str | None = None
    draft: bool = False
    unsafe_fixes: bool = False
    select: Sequence[str] = ()
    ignore: Sequence[str] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    exclude: Sequence[str] = ()
    """gitignore-style patterns of `--exclude` (the config file's `exclude:` applies too)."""
    verbose: bool = False


@dataclass
class PrResult:
    """What `pr` did: `pushed` False when the remote branch already held the fixes."""

    branch: str | None = None
    pushed: bool = False
    commit: str | None = None
    outcome: Outcome | None = None
    fixes: int = 0


Echo = Callable[[str], None]


def repo_paths(root: Path, sources: Sequence[str]) -> list[str]:
    """SOURCES as paths relative to the repository root (absolute ones must lie inside)."""
    if not sources:
        raise PrError("no SOURCES given (paths relative to the repository root)")
    out = []
    for source in sources:
        if source == "-":
            raise PrError("pr reads files from the repository; stdin (-) is not supported")
        path = Path(source)
        if path.is_absolute():
            try:
                path = path.resolve().relative_to(root.resolve())
            except ValueError:
                raise PrError(f"{source}: not inside the repository {root}") from None
        if ".." in path.parts:
            raise PrError(f"{source}: must stay inside the repository")
        out.append(path.as_posix())
    return out


def make_forge(opts: PrOptions, remote_url: str) -> Forge | None:
    """The forge client, configured before anything is pushed so a missing token or an
    unknown repository stops the run early."""
    if opts.forge == "none":
        return None
    variable = TOKEN_VARIABLE[opts.forge]
    token = os.environ.get(variable, "")
    if not token:
        raise PrError(f"{variable} is not set: the {opts.forge} API needs a token "
                      "(or use --forge none to only push the branch)")
    host, path = git.parse_remote(remote_url)
    repository = opts.repository or path
    if not repository:
        raise PrError(f"cannot tell the repository from the remote URL {remote_url!r}; "
                      "give --repository")
    if opts.forge == "github":
        return gh.GitHub(opts.api_url or gh.api_url_for(host), repository, token)
    return gl.GitLab(opts.api_url or gl.api_url_for(host), repository, token)


def run_pr(opts: PrOptions, echo: Echo) -> PrResult:
    """The whole command; every failure is a PrError with a message for the user."""
    root = git.repo_root()
    sources = repo_paths(root, opts.sources)
    url = git.remote_url(root, opts.remote)
    forge = make_forge(opts, url)
    if opts.base:
        base = git.Base(opts.base, "--base")
    else:
        base = git.default_base(root, opts.remote)
    echo(f"base: {base.branch} ({base.reason})")
    base_tip = git.fetch_branch(root, opts.remote, base.branch)
    if base_tip is None:
        raise PrError(f"{opts.remote} has no branch {base.branch!r}")
    result = PrResult()
    with git.temporary_worktree(root, base_tip) as worktree:
        with contextlib.chdir(worktree):
            missing = [s for s in sources if not Path(s).exists()]
            if missing:
                raise PrError(f"not in {base.branch}: {', '.join(missing)}")
            applied, changed, diff, remaining = _fix(opts, sources, echo)
        if not applied or not changed:
            echo(f"nothing to fix in {', '.join(sources)} on {base.branch}")
            return result
        result.fixes = len(applied)
        result.branch = opts.branch or pr_body.branch_name(base.branch, applied)
        text = pr_body.render(applied, diff, base.branch, sources, remaining)
        tree = git.stage_tree(worktree, changed)
        remote_tip = git.fetch_branch(root, opts.remote, result.branch)
        if remote_tip is not None and git.tree_of(root, remote_tip) == tree:
            echo(f"{opts.remote}/{result.branch} already holds these fixes: nothing pushed")
            result.commit = remote_tip
        else:
            result.commit = git.commit_tree(worktree, tree, base_tip,
                                            pr_body.commit_message(applied))
            git.push(root, opts.remote, result.commit, result.branch, remote_tip)
            result.pushed = True
            echo(f"pushed {len(applied)} fix(es) to {opts.remote}/{result.branch}")
    if forge is not None:
        result.outcome = forge.publish(result.branch, base.branch, text, pr_body.LABELS,
                                       opts.draft)
    return result


def _fix(opts: PrOptions, sources: list[str],
         echo: Echo) -> tuple[list[Any], list[str], str, int]:
    """Analyse and fix the sources in the current directory (the worktree): the applied
    fixes, the files changed, their diff, and how many findings stay unfixed."""
    try:
        settings = load_settings(opts.settings)
        rules = select_rules(list(opts.select), list(opts.ignore))
    except (ConfigError, UnknownRule) as err:
        raise PrError(str(err)) from None
    config = settings.config_file
    chosen = Selection(tuple(opts.exclude), settings.exclude,
                       os.path.dirname(config) if config else None)
    inventory = load_inventory(sources, None, selection=chosen)
    for note in inventory.notes:
        echo(f"note: {note}")
    skipped = inventory.skipped_files
    if skipped:
        echo(f"note: skipped {len(skipped)} file(s) that hold no Kubernetes object"
             + (": " + ", ".join(skipped) if opts.verbose else " (-v lists them)"))
    for error in inventory.errors:
        echo(str(error))
    if not inventory.objects_read:
        raise PrError(f"no Kubernetes objects in {' '.join(sources)}")
    if any(e.severity == "error" for e in inventory.errors):
        raise PrError("the sources have input errors (above); fix them first: a pull request "
                      "planned on part of the policies could open more than it says")
    findings = run_rules(Context(inventory, settings), rules)

    def tell(finding: Any, reason: str) -> None:
        echo(f"{where(finding)}: skipped fix for [{finding.rule}] {finding.object}: {reason}")

    # a file outside the worktree (a committed symlink to /etc/...) or one the editor
    # refuses loses only the fixes touching it: the commit, its message and the pull
    # request then hold exactly the fixes that were written
    scope = WriteScope((os.path.realpath("."),), "the repository's worktree", "")
    plan, results, refused = plan_around_refusals(findings, opts.unsafe_fixes, None, tell,
                                                  scope)
    for finding, reason in plan.skipped:
        tell(finding, reason)
    for result in refused.values():
        echo(f"{result.file}: error: cannot edit: {result.error}")
    changed = [r for r in results if r.changed]
    outcome = write_results(changed)
    if outcome.failed:
        raise PrError("; ".join(f"{file}: {reason}" for file, reason in outcome.failed))
    remaining = len(findings) - len(plan.applied)
    return list(plan.applied), outcome.written, unified_diff(changed), remaining
