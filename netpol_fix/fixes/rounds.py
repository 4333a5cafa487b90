"""`fix` as a run: plan, edit, look again, until the edits uncover nothing more.

A fix can uncover a finding: adding `Egress` to a policy whose egress rules were ignored
makes them apply, which can leave another side's explicit allow one-sided. So the edited
texts are analysed again (in memory, never written in between) and what they show is fixed
in the same run, a few rounds at most, and a second `fix` finds nothing to do. The result
keeps what every output needs: each file's text before and after, the fixes in the order
they were applied and their operations in that sequence (see Plan.sequential).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netpol_fix.fixes.files import FileResult, apply_plan
from netpol_fix.fixes.plan import Plan, build_plan
from netpol_fix.fixes.scope import WriteScope
from netpol_fix.model.findings import Finding, Fix

ROUNDS = 5
"""How often a run analyses its own edits again and fixes what they uncovered."""


@dataclass
class FixRun:
    files: list[FileResult] = field(default_factory=list)
    """Each changed file: its text as read and as the run leaves it."""
    applied: list[tuple[Finding, Fix]] = field(default_factory=list)
    operations: dict[int, list[list[dict[str, Any]]]] = field(default_factory=dict)
    """Per applied fix (by id), per patch: its operations in the run's sequence."""
    failed: list[FileResult] = field(default_factory=list)
    """Files the editor could not edit: the fixes that touch them are left out (and told
    as skipped), the other files get theirs."""
    remaining: list[Finding] = field(default_factory=list)
    """Findings of the last analysis that no fix of the run addressed."""
    converged: bool = True
    """False when the last round still changed files."""


def fix_until_stable(findings: Sequence[Finding], unsafe: bool,
                     analyse_again: Callable[[Mapping[str, str]], list[Finding]],
                     texts: Mapping[str, str] | None = None,
                     on_skip: Callable[[Finding, str], None] | None = None,
                     rounds: int = ROUNDS, scope: WriteScope | None = None) -> FixRun:
    """Fix `findings`, then what `analyse_again(edited texts by file)` finds, and so on.
    `texts`: contents that are not files (stdin); `on_skip` hears each skipped fix once;
    `scope`: where files may be written (a file outside is refused like one the editor
    refuses)."""
    run = FixRun(remaining=list(findings))
    current: dict[str, str] = dict(texts or {})
    original: dict[str, FileResult] = {}
    told: set[tuple[int, str]] = set()

    def tell(finding: Finding, reason: str) -> None:
        key = (hash((finding.rule, str(finding.object))), reason)
        if on_skip is not None and key not in told:
            told.add(key)
            on_skip(finding, reason)

    failed: dict[str, FileResult] = {}
    for number in range(1, rounds + 1):
        plan, results, refused = plan_around_refusals(findings, unsafe, current, tell, scope)
        failed.update(refused)
        for finding, reason in plan.skipped:
            tell(finding, reason)
        run.failed = list(failed.values())
        changed = [r for r in results if r.changed and r.new is not None]
        done = {id(f) for f, _fx in plan.applied}
        run.remaining = [f for f in findings if id(f) not in done]
        if not changed:
            break
        for result in changed:
            assert result.new is not None
            original.setdefault(result.file, result)
            current[result.file] = result.new
        run.applied += plan.applied
        run.operations.update({id(fx): plan.operations(fx) for _f, fx in plan.applied})
        if number == rounds:
            run.converged = False
            break
        findings = analyse_again(current)
        run.remaining = list(findings)
    run.files = [r for r in (
        FileResult(file, first.old, current[file], encoding=first.encoding,
                   fingerprint=first.fingerprint)
        for file, first in sorted(original.items())) if r.changed]
    return run


def plan_around_refusals(findings: Sequence[Finding], unsafe: bool,
                         texts: Mapping[str, str] | None,
                         tell: Callable[[Finding, str], None],
                         scope: WriteScope | None = None,
                         ) -> tuple[Plan, list[FileResult], dict[str, FileResult]]:
    """Plan and edit; a file the editor refuses (it does not parse; a JSON object cannot
    take a new document; it lies outside `scope`; it changed since it was read) loses the
    fixes that touch it, and the others are planned again without them, so one such file
    does not hold back every other file's fixes. Returns the plan, its file results and
    the refused files."""
    planned = list(findings)
    refused_all: dict[str, FileResult] = {}
    while True:
        plan = build_plan(planned, unsafe)
        results = apply_plan(plan, dict(texts) if texts else None, scope)
        refused = {r.file: r for r in results if r.error}
        if not refused:
            break
        refused_all.update(refused)
        kept = []
        for finding in planned:
            bad = sorted(_files(finding) & refused.keys())
            if bad:
                tell(finding, f"cannot edit {bad[0]}: {refused[bad[0]].error}")
            else:
                kept.append(finding)
        if len(kept) == len(planned):
            break  # no fix touches the refused files: nothing more to leave out
        planned = kept
    return plan, results, refused_all


def _files(finding: Finding) -> set[str]:
    """The files a finding's fix edits (its patched objects' and its new objects' files)."""
    if finding.fix is None:
        return set()
    sources = [p.source for p in finding.fix.patches] + [n.after for n in finding.fix.creates]
    return {s.location.file for s in sources if s is not None and s.location is not None}
