"""`netpol-fix apply`: options, confirmation, output and exit codes; the logic is in
`cluster_apply`.

Exit codes: 0 every change was applied or was already present; 1 something was refused,
skipped as unsafe, or the user declined, or (with --dry-run, like `fix --dry-run`) changes
would be made; 2 usage, configuration or connection errors, credentials rejected (401) or
a change forbidden (403). No traceback reaches the user.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn

import click

from netpol_fix.cluster.kubeconfig import ClusterUnreachable
from netpol_fix.cluster.load import load_with_cluster
from netpol_fix.cluster.read import effective_cni, read_cluster
from netpol_fix.config import CNIS, ConfigError, load_settings
from netpol_fix.fixes.canonical import patch_entries
from netpol_fix.fixes.plan import chosen_fix
from netpol_fix.model.findings import UNSAFE
from netpol_fix.model.secrets import scrub
from netpol_fix.rules.context import Context
from netpol_fix.rules.registry import UnknownRule, run_rules, select_rules

# The kubernetes client costs half a second to import: it and the modules built on it are
# imported when `apply` runs, so that every other command starts fast.
if TYPE_CHECKING:
    from netpol_fix.cluster.apply import Entry, Outcome

EXIT_OK, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2


def can_ask() -> bool:
    """Whether a human can answer the confirmation (a terminal on stdin)."""
    return sys.stdin.isatty()


def _error(message: str) -> NoReturn:
    click.echo(scrub(f"error: {message}"), err=True)
    sys.exit(EXIT_ERROR)


def describe(entries: list[Entry], unsafe_fixes: bool) -> list[str]:
    """The plan as shown before asking: object, what changes, which flows it opens."""
    from netpol_fix.cluster.apply import summarize
    from netpol_fix.cluster.objects import Ref

    lines = []
    for entry in entries:
        skipped = entry.applicability == UNSAFE and not unsafe_fixes
        note = " (unsafe: skipped without --unsafe-fixes)" if skipped else ""
        if entry.changes and entry.ref:
            lines.append(f"  {entry.ref} [{entry.rule}]: {summarize(entry.operations)}{note}")
        for obj in entry.creates:
            lines.append(f"  {Ref.of(obj)} [{entry.rule}]: create{note}")
        if not skipped:
            lines.extend(f"    opens {flow}" for flow in entry.opens)
    return lines


@click.command("apply")
@click.option("--patches", "patches", type=click.File("r", encoding="utf-8"), default=None,
              help="Output of `netpol-fix fix --dry-run --format json-patch` (- for stdin).")
@click.option("--cluster", is_flag=True,
              help="Plan the fixes from the live cluster itself (instead of --patches).")
@click.option("-n", "--namespace", default=None,
              help="With --cluster: the namespace to read (default: the context's).")
@click.option("-A", "--all-namespaces", is_flag=True, help="With --cluster: all namespaces.")
@click.option("--select", default=None, metavar="IDS",
              help="With --cluster: comma-separated rule ids to fix (default: all).")
@click.option("--ignore", default=None, metavar="IDS",
              help="With --cluster: comma-separated rule ids not to fix.")
@click.option("--cni", type=click.Choice(CNIS), default=None,
              help="With --cluster: the CNI (default: detected from the cluster).")
@click.option("--dns-namespace", default=None, help="With --cluster: where cluster DNS runs.")
@click.option("--dns-selector", default=None, help="With --cluster: cluster DNS pod labels.")
@click.option("--kubeconfig", default=None, help="Path of the kubeconfig (like kubectl).")
@click.option("--context", default=None, help="Kubeconfig context to use.")
@click.option("--dry-run", is_flag=True,
              help="Only the server-side dry-run of every change; nothing is stored.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply fixes marked unsafe.")
@click.option("--backup", "backup_dir", default=None,
              type=click.Path(file_okay=False, path_type=Path),
              help="Write each object as it was before the change to this folder (YAML "
                   "for `kubectl apply -f`).")
def apply_command(patches: IO[str] | None, cluster: bool, namespace: str | None,
                  all_namespaces: bool, select: str | None, ignore: str | None,
                  cni: str | None, dns_namespace: str | None, dns_selector: str | None,
                  kubeconfig: str | None, context: str | None,
                  dry_run: bool, yes: bool, unsafe_fixes: bool, backup_dir: Path | None
                  ) -> None:
    """Apply fixes to the live cluster as guarded JSON patches.

    Every change is a server-side dry-run first, then the patch behind a test of the
    resourceVersion it was planned on. A fix whose `test` operations no longer hold is
    refused; one already present is reported, not applied twice.

    Exit codes: 0 all applied or already present; 1 any refused or skipped, or with
    --dry-run changes that would be made; 2 usage, kubeconfig or connection errors.

    Examples:

    \b
      netpol-fix fix --dry-run -o json-patch manifests/ > fixes.json
      netpol-fix apply --patches fixes.json --dry-run
      netpol-fix apply --patches fixes.json --backup backup/
      netpol-fix apply --cluster -n shop --select missing-dns-egress
    """
    import urllib3
    from kubernetes.client.exceptions import ApiException

    from netpol_fix.cluster.apply import Applier, BackupError, PatchFileError, parse_entries
    from netpol_fix.cluster.kubeconfig import ClusterConfigError, connect
    from netpol_fix.cluster.objects import ClusterObjects

    if (patches is None) == (not cluster):
        _error("give --patches FILE (a reviewed `fix --format json-patch` output) or --cluster "
               "(plan the fixes from the cluster), one of them")
    if patches is not None:
        try:
            entries = parse_entries(patches.read())
        except (PatchFileError, UnicodeDecodeError) as err:
            _error(f"{patches.name}: {err}")
    else:
        entries = plan_from_cluster(
            kubeconfig, context, namespace, all_namespaces, unsafe_fixes,
            {"cni": cni, "dns_namespace": dns_namespace, "dns_selector": dns_selector},
            select, ignore)
    try:
        api_client, context_name = connect(kubeconfig, context)
    except ClusterConfigError as err:
        _error(str(err))
    if not entries:
        if cluster:
            click.echo("nothing to apply: no finding on the cluster has an applicable fix",
                       err=True)
            sys.exit(EXIT_OK)
        click.echo("nothing to apply: the patch file holds no fix", err=True)
        sys.exit(EXIT_OK)
    if not dry_run and not yes:
        click.echo(f"netpol-fix will change cluster context {context_name!r}:", err=True)
        for line in describe(entries, unsafe_fixes):
            click.echo(line, err=True)
        if not can_ask():
            _error("no terminal to ask for confirmation; pass --yes to apply, or --dry-run")
        if not click.confirm("Apply these changes?", default=False, err=True):
            click.echo("aborted; nothing was changed", err=True)
            sys.exit(EXIT_REFUSED)
    applier = Applier(ClusterObjects(api_client), dry_run=dry_run, unsafe_fixes=unsafe_fixes,
                      backup_dir=backup_dir, report=lambda o: click.echo(scrub(o.line())))
    try:
        outcomes = applier.apply(entries)
    except BackupError as err:
        _error(f"{err}; that object was not changed, and the ones after it were not tried")
    except ApiException as err:
        if err.status == 401:
            _error(f"the API server of context {context_name!r} rejected the credentials "
                   f"(401 {err.reason}); nothing more was tried")
        _error(f"cannot talk to the API server of context {context_name!r}: {err.reason}")
    except (urllib3.exceptions.HTTPError, OSError) as err:
        reason = getattr(err, "reason", None) or err
        _error(f"cannot talk to the API server of context {context_name!r}: {reason}")
    finally:
        api_client.close()
    click.echo(_summary(outcomes), err=True)
    if any(o.forbidden for o in outcomes):
        click.echo("error: the API server forbade some changes (403): the credentials lack "
                   "permissions (see deploy/rbac.yaml)", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_OK if all(o.ok for o in outcomes) else EXIT_REFUSED)


def plan_from_cluster(kubeconfig: str | None, context: str | None, namespace: str | None,
                      all_namespaces: bool, unsafe_fixes: bool, options: dict[str, str | None],
                      select: str | None, ignore: str | None) -> list[Entry]:
    """Read the cluster, run the rules, and return the fixes that would apply (safe ones,
    and unsafe ones with --unsafe-fixes) as apply entries: the same canonical form that
    `fix --format json-patch` prints for files."""
    from netpol_fix.cluster.apply import entries_from_data

    try:
        settings = load_settings(options)
        rules = select_rules(_ids(select), _ids(ignore))
        read = read_cluster(kubeconfig, context, namespace, all_namespaces, progress=True)
    except (ConfigError, UnknownRule, ClusterUnreachable) as err:
        _error(str(err))
    inventory, notes = load_with_cluster([], read)
    for line in [f"note: {n}" for n in notes] + [str(e) for e in inventory.errors]:
        click.echo(line, err=True)
    detected = effective_cni(settings.cni, read.cni)
    click.echo(f"note: CNI {detected.name}: {detected.reason}", err=True)
    ctx = Context(inventory, replace(settings, cni=detected.name))
    data = []
    for finding in run_rules(ctx, rules):
        fix = chosen_fix(finding, unsafe_fixes)
        if fix is not None:
            data.extend(patch_entries(finding, fix))
    return entries_from_data(data)


def _ids(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _summary(outcomes: list[Outcome]) -> str:
    from netpol_fix.cluster.apply import ALREADY, APPLIED, REFUSED, SKIPPED, WOULD_APPLY

    counts = {s: sum(o.status == s for o in outcomes)
              for s in (APPLIED, WOULD_APPLY, ALREADY, REFUSED, SKIPPED)}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing to do"
