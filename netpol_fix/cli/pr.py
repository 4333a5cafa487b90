"""`netpol-fix pr`: commit the fixes on a branch and open or update the pull request."""

from __future__ import annotations

import sys
from typing import Any

import click

from netpol_fix.cli.common import (
    SELECTION,
    VERBOSE,
    id_list,
    rule_selection_options,
    settings_options,
    sources_options,
)
from netpol_fix.cli.usage import EXIT_ERROR, EXIT_OK
from netpol_fix.pr.command import FORGES, PrOptions, run_pr
from netpol_fix.pr.errors import PrError, scrub


@click.command("pr")
@click.argument("sources", nargs=-1)
@sources_options
@click.option("--base", default=None, metavar="BRANCH",
              help="Branch to fix and target (default: the remote's default branch, else "
                   "the current branch's upstream).")
@click.option("--branch", default=None, metavar="NAME",
              help="Branch to push (default netpol-fix/<base>/<hash of the fixed objects>).")
@click.option("--remote", default="origin", show_default=True)
@click.option("--forge", type=click.Choice(FORGES), default="github", show_default=True,
              help="Where to open the pull request; none only pushes the branch.")
@click.option("--api-url", default=None, metavar="URL",
              help="Forge API root (default from the remote's host: https://api.github.com, "
                   "https://HOST/api/v3, https://HOST/api/v4).")
@click.option("--repository", default=None, metavar="OWNER/NAME",
              help="Repository on the forge (default: parsed from the remote URL).")
@click.option("--draft", is_flag=True, help="Open the pull request as a draft.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply fixes marked unsafe.")
@rule_selection_options
@settings_options
def pr(sources: tuple[str, ...], base: str | None, branch: str | None, remote: str,
       forge: str, api_url: str | None, repository: str | None, draft: bool,
       unsafe_fixes: bool, select: str | None, ignore: str | None, **settings: Any) -> None:
    """Commit the fixes on one branch, push it, and open or update its pull request.

    SOURCES are paths relative to the repository root. The work happens in a temporary
    worktree of the base branch: your checkout, index and branch are never touched. A rerun
    with the same fixes pushes nothing. Tokens: GITHUB_TOKEN / GITLAB_TOKEN. Prints the pull
    request URL (or the branch with --forge none). Exit code 0 done, 2 on errors.

    Examples:

    \b
      GITHUB_TOKEN=... netpol-fix pr manifests/
      netpol-fix pr . --exclude charts/ --forge gitlab --draft
      netpol-fix pr apps/ --forge none              # only push the branch
    """
    meta = click.get_current_context().meta
    options = PrOptions(sources, base, branch, remote, forge, api_url, repository, draft,
                        unsafe_fixes, id_list(select), id_list(ignore), settings,
                        exclude=tuple(meta.get(SELECTION, ())),
                        verbose=bool(meta.get(VERBOSE)))
    try:
        result = run_pr(options, lambda line: click.echo(scrub(line), err=True))
    except PrError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_ERROR)
    if result.outcome is not None:
        click.echo(f"{result.outcome.action} pull request #{result.outcome.number}", err=True)
        click.echo(result.outcome.url)
    elif result.branch is not None:
        click.echo(result.branch)
    sys.exit(EXIT_OK)
